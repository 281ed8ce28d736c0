//! Compiles synod's etcd protocol definitions with protox (a protobuf
//! compiler in Rust), so building needs no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["proto/etcdserverpb/rpc.proto", "proto/mvccpb/kv.proto"];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(protos, ["proto"])?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        // The generated `connect` helper needs tonic's channel feature,
        // which only the tests enable; clients take any tonic transport.
        .build_transport(false)
        .compile_fds(descriptors)?;
    Ok(())
}
