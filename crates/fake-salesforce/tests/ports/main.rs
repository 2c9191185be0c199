//! The fake's own tests over its real ports, with plain gRPC and HTTP clients: one test binary,
//! so its dependencies are linked once.

mod attachment_capabilities;
mod orgs;
