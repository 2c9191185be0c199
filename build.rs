//! Compiles the client side of `proto/pubsub_api.proto` with protox (a pure-Rust protobuf
//! compiler), so building the crate never needs a system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/pubsub_api.proto";
    println!("cargo:rerun-if-changed={proto}");
    let file_descriptors = protox::compile([proto], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(false)
        .bytes(".eventbus.v1")
        .compile_fds(file_descriptors)?;
    Ok(())
}
