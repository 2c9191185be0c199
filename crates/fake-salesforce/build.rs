//! Compiles the workspace's `proto/pubsub_api.proto` for the server side with protox (a
//! pure-Rust protobuf compiler), so building the fake never needs a system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = "../../proto";
    let proto = format!("{proto_dir}/pubsub_api.proto");
    println!("cargo:rerun-if-changed={proto}");
    let file_descriptors = protox::compile([proto.as_str()], [proto_dir])?;
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(true)
        .bytes(".eventbus.v1")
        .compile_fds(file_descriptors)?;
    Ok(())
}
