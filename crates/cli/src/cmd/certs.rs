//! `synod certs`: the certificates a cluster file's `[tls]` names (a CA,
//! one per node, an admin's and a client's), written where it says.

use anyhow::bail;
use clap::Args as ClapArgs;
use std::path::PathBuf;
use std::process::ExitCode;
use synod_node::ClusterFile;
use synod_tools::certs::write_certs;

#[derive(ClapArgs)]
pub struct Args {
    /// The cluster file; its [tls] section says where the files go (they
    /// must all be in one directory, as `synod config example` shows).
    #[arg(long)]
    cluster: PathBuf,
    /// Extra names (hostnames, IP addresses) to put in every node's
    /// certificate, for tools that check the address they dial. synod's
    /// own nodes and clients check `synod-node-<id>` and need none.
    #[arg(long = "host", value_name = "NAME")]
    hosts: Vec<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let cluster = ClusterFile::load(&args.cluster)?;
    let Some(tls) = &cluster.tls else {
        bail!(
            "{} has no [tls] section: add one (`synod config example` shows it) to say where \
             the certificates go",
            args.cluster.display()
        );
    };
    let Some(dir) = tls.ca.parent() else {
        bail!("tls.ca names no directory");
    };
    let expected = synod_node::config::TlsFiles::in_dir(dir);
    if tls.node_cert != expected.node_cert || tls.node_key != expected.node_key {
        bail!(
            "synod certs writes the layout of `synod config example` ({} holds ca.crt, \
             n{{id}}.crt, n{{id}}.key, admin.crt, client.crt and their keys): point \
             tls.node_cert and tls.node_key there, or make the certificates with your own CA",
            dir.display()
        );
    }
    let ids: Vec<u32> = cluster.nodes.iter().map(|n| n.id).collect();
    let report = write_certs(dir, &cluster.cluster_id, &ids, &args.hosts)?;
    for path in &report.written {
        println!("wrote {}", path.display());
    }
    for path in &report.kept {
        println!("kept  {} (exists)", path.display());
    }
    println!(
        "give each node its n<id>.crt and n<id>.key, every machine ca.crt; \
         operators admin.crt/.key, applications client.crt/.key; ca.key stays with whoever adds nodes"
    );
    Ok(ExitCode::SUCCESS)
}
