//! `halfsky pki init | issue`: the deployment's CA and device certificates from the
//! command line. The certificate work itself is [`crate::pki`]'s.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use halfsky_shared::OrgCode;

use crate::cli::CliError;
use crate::config::NodeHome;
use crate::pki::{date, init_ca, issue_with_names, PkiError};

/// `halfsky pki …`: the deployment's certificates.
#[derive(Debug, Subcommand)]
pub enum PkiCommand {
    /// Create the deployment's certificate authority (CA), once per city, on the
    /// city's offline machine. Writes ca.pem (public) and ca.key (SECRET: whoever has
    /// it can add devices to the network; keep it off the network and back it up).
    Init {
        /// 12-digit code of the unit the deployment belongs to, normally the city
        /// (e.g. 230100000000). Devices can be issued for this unit and all below it.
        #[arg(long)]
        org: String,
        /// Directory to create the CA in (must not already hold one), e.g. a USB stick.
        #[arg(long)]
        out: PathBuf,
    },
    /// Issue a certificate for one device (computer) of one unit and put it into
    /// that device's node home (-d DIR): node.pem, node.key and ca.pem. Run on the
    /// machine holding the CA, then copy the node home's three files to the device
    /// if the node home is elsewhere. Issuing again replaces the earlier files.
    Issue {
        /// The CA directory made by `halfsky pki init` (holds ca.pem and ca.key).
        #[arg(long)]
        ca: PathBuf,
        /// 12-digit code of the device's unit (village, township, county or city).
        #[arg(long)]
        org: String,
        /// Name of the device within its unit, e.g. office-pc-1 (letters, digits,
        /// '.', '_', '-').
        #[arg(long)]
        device: String,
        /// Host name or IP address by which children reach this node, if it is a
        /// parent (township, county, city); repeat for several. localhost and
        /// 127.0.0.1 are always included.
        #[arg(long = "name", value_name = "HOST")]
        extra_names: Vec<String>,
    },
}

/// Runs a `halfsky pki` command; `node_home` is the global `-d DIR` (used by `issue`).
pub fn execute(cmd: PkiCommand, node_home: &Path) -> Result<(), CliError> {
    match cmd {
        PkiCommand::Init { org, out } => {
            let org = OrgCode::parse(&org).map_err(PkiError::BadOrg)?;
            let info = init_ca(org, &out)?;
            eprintln!(
                "created the CA of deployment {org}, valid until {}:\n  {}  CA certificate (public; copied into each node home by `pki issue`)\n  {}  CA key (SECRET: keep it offline and backed up; anyone with it can add devices)",
                date(info.not_after),
                info.cert_path.display(),
                info.key_path.display()
            );
            eprintln!(
                "next: `halfsky pki issue --ca {} --org <unit code> --device <name> -d <node home>` for each device",
                out.display()
            );
        }
        PkiCommand::Issue {
            ca,
            org,
            device,
            extra_names,
        } => {
            let org = OrgCode::parse(&org).map_err(PkiError::BadOrg)?;
            let home = NodeHome::new(node_home);
            if home.config_path().exists() {
                let config = home.config()?;
                if config.org != org {
                    return Err(CliError::usage(format!(
                        "{} is the node home of {} but --org is {org}; give that unit's code, or another -d DIR",
                        node_home.display(),
                        config.org
                    )));
                }
            }
            let cert = issue_with_names(&ca, org, &device, node_home, &extra_names)?;
            eprintln!(
                "issued a certificate for {} (valid until {}, for {}):\n  {}  certificate\n  {}  private key (secret, mode 0600)\n  {}  the deployment's CA certificate",
                cert.identity,
                date(cert.not_after),
                cert.names.join(", "),
                cert.cert_path.display(),
                cert.key_path.display(),
                cert.ca_path.display()
            );
        }
    }
    Ok(())
}
