//! Certificates for a cluster (`synod certs`, and every local cluster): a
//! cluster CA, one certificate per node, an operator's (admin) and an
//! application's (client), in the layout of `TlsFiles::in_dir`
//! (docs/security.md).
//!
//! Contract: a file that exists is never overwritten (a CA replaced under a
//! running cluster would lock every node out), so running it again after a
//! node is added writes only what is missing; every certificate written is
//! checked against the CA before the call returns; private keys are
//! readable by their owner only.

use anyhow::{Context, bail};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::path::{Path, PathBuf};
use synod_node::tls::{ADMIN_NAME, CLIENT_NAME, node_name, verify_issued};

/// What [`write_certs`] did.
#[derive(Debug, Default)]
pub struct CertsReport {
    pub written: Vec<PathBuf>,
    pub kept: Vec<PathBuf>,
}

/// Writes what is missing of a CA for `cluster_id`, a certificate for each
/// of `nodes` (with `hosts` as extra names, for tools that check
/// hostnames), and the admin and client certificates, into `dir`.
pub fn write_certs(
    dir: &Path,
    cluster_id: &str,
    nodes: &[u32],
    hosts: &[String],
) -> anyhow::Result<CertsReport> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut report = CertsReport::default();
    let ca_cert = dir.join("ca.crt");
    let ca_key_file = dir.join("ca.key");
    let ca_params = ca_params(cluster_id)?;
    let ca_key = match (ca_cert.exists(), ca_key_file.exists()) {
        (true, true) => {
            report.kept.push(ca_cert.clone());
            let pem = std::fs::read_to_string(&ca_key_file)
                .with_context(|| format!("reading {}", ca_key_file.display()))?;
            KeyPair::from_pem(&pem).with_context(|| format!("{}", ca_key_file.display()))?
        }
        (false, false) => {
            let key = KeyPair::generate()?;
            let cert = ca_params.self_signed(&key)?;
            write_key(&ca_key_file, &key.serialize_pem())?;
            write_new(&ca_cert, &cert.pem())?;
            report.written.push(ca_cert.clone());
            key
        }
        _ => bail!(
            "{} holds one of ca.crt and ca.key without the other: restore the missing one \
             (a new CA would not be trusted by nodes that hold the old one)",
            dir.display()
        ),
    };
    let issuer = Issuer::new(ca_params, ca_key);
    let mut leaves: Vec<(String, String, bool)> = nodes
        .iter()
        .map(|id| (format!("n{id}"), node_name(*id), true))
        .collect();
    leaves.push(("admin".into(), ADMIN_NAME.into(), false));
    leaves.push(("client".into(), CLIENT_NAME.into(), false));
    for (file, name, serves) in leaves {
        let cert = dir.join(format!("{file}.crt"));
        let key_file = dir.join(format!("{file}.key"));
        if cert.exists() || key_file.exists() {
            if !(cert.exists() && key_file.exists()) {
                bail!(
                    "{} holds one of {file}.crt and {file}.key without the other: \
                     remove the one left to issue both again",
                    dir.display()
                );
            }
            report.kept.push(cert.clone());
        } else {
            let mut names = vec![name.clone()];
            if serves {
                names.extend(hosts.iter().cloned());
            }
            let mut params = CertificateParams::new(names)?;
            params.distinguished_name.push(DnType::CommonName, &name);
            params
                .distinguished_name
                .push(DnType::OrganizationName, cluster_id);
            params.use_authority_key_identifier_extension = true;
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            params.extended_key_usages = if serves {
                vec![
                    ExtendedKeyUsagePurpose::ServerAuth,
                    ExtendedKeyUsagePurpose::ClientAuth,
                ]
            } else {
                vec![ExtendedKeyUsagePurpose::ClientAuth]
            };
            params.not_before = rcgen::date_time_ymd(this_year() - 1, 1, 1);
            params.not_after = rcgen::date_time_ymd(this_year() + 5, 1, 1);
            let key = KeyPair::generate()?;
            let signed = params.signed_by(&key, &issuer)?;
            write_key(&key_file, &key.serialize_pem())?;
            write_new(&cert, &signed.pem())?;
            report.written.push(cert.clone());
        }
        // Kept or new, a certificate the cluster's CA does not accept is
        // reported now rather than at the first connection.
        verify_issued(&ca_cert, &cert, &name, serves).with_context(|| {
            format!("checking {} against {}", cert.display(), ca_cert.display())
        })?;
    }
    Ok(report)
}

/// The CA's parameters: the same for a cluster id every time, so a CA
/// written earlier signs new certificates that chain to it.
fn ca_params(cluster_id: &str) -> anyhow::Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params
        .distinguished_name
        .push(DnType::CommonName, "synod cluster CA");
    params
        .distinguished_name
        .push(DnType::OrganizationName, cluster_id);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = rcgen::date_time_ymd(this_year() - 1, 1, 1);
    params.not_after = rcgen::date_time_ymd(this_year() + 10, 1, 1);
    Ok(params)
}

/// About this year (within a day or so): certificates are valid from the
/// first day of the year before, so neither that nor a clock a little off
/// on another machine matters, for a number of years.
fn this_year() -> i32 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    1970 + (secs / 31_556_952) as i32
}

fn write_new(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

fn write_key(path: &Path, pem: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(pem.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_refuses_another_ca_and_another_role() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        write_certs(a.path(), "a", &[1, 2, 3], &[]).unwrap();
        write_certs(b.path(), "b", &[1], &["db1.example".into()]).unwrap();
        let crt = |d: &Path, f: &str| d.join(format!("{f}.crt"));
        let ca_a = crt(a.path(), "ca");
        // Each as issued passes.
        verify_issued(&ca_a, &crt(a.path(), "n2"), &node_name(2), true).unwrap();
        verify_issued(&ca_a, &crt(a.path(), "admin"), ADMIN_NAME, false).unwrap();
        // Another cluster's certificate, another node's name, a role the
        // certificate does not hold, or serving with a client certificate.
        assert!(verify_issued(&ca_a, &crt(b.path(), "n1"), &node_name(1), true).is_err());
        assert!(verify_issued(&ca_a, &crt(a.path(), "n2"), &node_name(1), true).is_err());
        assert!(verify_issued(&ca_a, &crt(a.path(), "client"), ADMIN_NAME, false).is_err());
        assert!(verify_issued(&ca_a, &crt(a.path(), "admin"), ADMIN_NAME, true).is_err());
        // Extra host names go into node certificates.
        let ca_b = crt(b.path(), "ca");
        verify_issued(&ca_b, &crt(b.path(), "n1"), "db1.example", true).unwrap();
    }
}
