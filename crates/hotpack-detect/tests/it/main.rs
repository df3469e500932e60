//! Integration tests for hotpack-detect: real files, real inotify, real threads.

mod cache;
mod hashing;
mod scenarios;
mod support;
