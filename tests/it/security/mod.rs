//! Issue 14: the network and Git are untrusted input. Each test pins one item
//! of the issue, with real HTTP against the real binary and a real engine.

mod host_reach;
mod network;
mod repository;
mod secrets;
mod tokens;
mod webhook;
