//! Integration tests for hotpack-detect: real files, real inotify, real threads.

mod cache;
mod events;
mod hashing;
mod links;
mod scenarios;
mod support;
