//! Issues 14 and 22: the network and Git are untrusted input. Each test pins
//! one item of an issue, with real HTTP against the real binary and a real engine.

mod environment;
mod host_reach;
mod network;
mod repository;
mod secrets;
mod tokens;
mod webhook;
