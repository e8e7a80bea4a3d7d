//! The product's rules, once, below both transports: REST handlers and WebSocket frames call
//! these use-cases, which check access, change the store and publish the domain events.

pub mod access;
pub mod accounts;
pub mod dms;
pub mod members;
pub mod messages;
pub mod rooms;
