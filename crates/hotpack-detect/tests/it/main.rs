//! Integration tests for hotpack-detect: real files, real inotify, real threads.

mod cache;
mod events;
mod hashing;
mod scenarios;
mod support;
