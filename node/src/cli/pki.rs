//! `halfsky pki init | issue | enroll | revoke | revoked`: the deployment's CA, device
//! certificates, enrollment files and revocations from the command line. The
//! certificate work itself is [`crate::pki`]'s.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use halfsky_shared::OrgCode;

use crate::cli::CliError;
use crate::command::{Request, RevocationRequest};
use crate::config::NodeHome;
use crate::pki::enroll::{self, EnrollRequest};
use crate::pki::{agree, date, init_ca, issue_relay, issue_with_names, revocation, PkiError};

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
        /// 12-digit code of the device's unit (village, township, county or city);
        /// not for `--role relay`.
        #[arg(long, required_unless_present = "role")]
        org: Option<String>,
        /// `node` (default: an office of a unit) or `relay` (the relay's mailbox
        /// server: its certificate names no unit, so it can serve mailboxes and
        /// nothing else; it cannot sync, open bundles or sign acknowledgements).
        #[arg(long, value_name = "node|relay")]
        role: Option<String>,
        /// Name of the device within its unit, e.g. office-pc-1 (letters, digits,
        /// '.', '_', '-'); for a relay, the relay's name.
        #[arg(long)]
        device: String,
        /// Host name or IP address by which children reach this node, if it is a
        /// parent (township, county, city); repeat for several. localhost and
        /// 127.0.0.1 are always included.
        #[arg(long = "name", value_name = "HOST")]
        extra_names: Vec<String>,
    },
    /// Make one enrollment file for a device: its certificate and key, the CA
    /// certificate, the deployment's shared settings (ID key), the unit's name, the
    /// parent's and listen addresses, sealed with a passphrase. Carry it to the device
    /// and run `halfsky -d DIR init --enroll FILE` there; tell the passphrase
    /// separately (by phone), never on the same stick.
    Enroll(EnrollArgs),
    /// Revoke a device's certificate (a lost or stolen computer): signs a revocation
    /// with the CA and records it in the city's document (-d: the home of a city node,
    /// running or not), which carries it down to every node at its next sync; from
    /// then on its links, relay visits and bundles are refused with the reason. Issue
    /// the replacement computer under a new device name.
    Revoke {
        /// The CA directory made by `halfsky pki init` (holds ca.pem and ca.key).
        #[arg(long)]
        ca: PathBuf,
        /// 12-digit code of the device's unit.
        #[arg(long)]
        org: String,
        /// The device's name, as issued (e.g. office-pc-1).
        #[arg(long)]
        device: String,
        /// Why, shown to whoever meets the refusal (e.g. "laptop stolen on 3 May").
        #[arg(long)]
        reason: String,
    },
    /// List the revoked devices this node knows of (they reach it with the city's
    /// document).
    Revoked {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `halfsky pki enroll`.
#[derive(Debug, clap::Args)]
pub struct EnrollArgs {
    /// The CA directory made by `halfsky pki init`.
    #[arg(long)]
    pub ca: PathBuf,
    /// 12-digit code of the device's unit.
    #[arg(long)]
    pub org: String,
    /// Name of the device within its unit, e.g. cadre-laptop.
    #[arg(long)]
    pub device: String,
    /// The unit's name as people call it, e.g. 红星村 (default: its code).
    #[arg(long)]
    pub unit_name: Option<String>,
    /// The parent's address host:port (omit at the city).
    #[arg(long)]
    pub parent: Option<String>,
    /// Where children dial in, ip:port (omit at a village), e.g. 0.0.0.0:7410.
    #[arg(long)]
    pub listen: Option<String>,
    /// Host name or IP address by which children reach this node; repeat for several
    /// (localhost and 127.0.0.1 are always included).
    #[arg(long = "name", value_name = "HOST")]
    pub names: Vec<String>,
    /// The enrollment file to write (it must not exist yet).
    #[arg(long)]
    pub out: PathBuf,
    /// Days until the file is refused.
    #[arg(long, default_value_t = 14)]
    pub expires_days: u32,
    /// Read the passphrase from the first line of this file (otherwise from
    /// $HALFSKY_ENROLL_PASSPHRASE, otherwise asked for).
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
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
            role,
            device,
            extra_names,
        } => {
            match role.as_deref() {
                None | Some("node") => {}
                Some("relay") => {
                    if org.is_some() {
                        return Err(CliError::usage(
                            "--role relay takes no --org: the relay's certificate names no unit (that is what keeps it to mailboxes)".to_string(),
                        ));
                    }
                    let cert = issue_relay(&ca, &device, node_home, &extra_names)?;
                    eprintln!(
                        "issued the relay certificate relay/{} (mailboxes only; valid until {}, for {}):\n  {}  certificate\n  {}  private key (secret, mode 0600)\n  {}  the deployment's CA certificate",
                        cert.name,
                        date(cert.not_after),
                        cert.names.join(", "),
                        cert.cert_path.display(),
                        cert.key_path.display(),
                        cert.ca_path.display()
                    );
                    return Ok(());
                }
                Some(other) => return Err(PkiError::BadRole(other.to_string()).into()),
            }
            let org = org.ok_or_else(|| {
                CliError::usage("--org is required for a node certificate".to_string())
            })?;
            let org = OrgCode::parse(&org).map_err(PkiError::BadOrg)?;
            let home = NodeHome::new(node_home);
            agree::check_issue(&home, org)?;
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
            if let Some(old) = agree::adopt_device(&home, &cert.identity)? {
                eprintln!(
                    "{}: device renamed from {old} to {} to match the certificate",
                    home.config_path().display(),
                    cert.identity.device
                );
            }
        }
        PkiCommand::Enroll(args) => enroll(args)?,
        PkiCommand::Revoke {
            ca,
            org,
            device,
            reason,
        } => {
            let org = OrgCode::parse(&org).map_err(PkiError::BadOrg)?;
            let (_, signed, copy) = revocation::sign(&ca, org, &device, &reason)?;
            eprintln!(
                "signed the revocation of {org}/{device}; a copy is in {}",
                copy.display()
            );
            let request = Request::Revocations(RevocationRequest::Record {
                signed: signed.to_text(),
            });
            let home = NodeHome::new(node_home);
            crate::cli::perform(
                &home,
                request,
                (false, Default::default()),
                &mut std::io::stdout(),
                &mut std::io::stderr(),
            )?;
        }
        PkiCommand::Revoked { json } => {
            let home = NodeHome::new(node_home);
            let request = Request::Revocations(RevocationRequest::List);
            crate::cli::perform(
                &home,
                request,
                (json, Default::default()),
                &mut std::io::stdout(),
                &mut std::io::stderr(),
            )?;
        }
    }
    Ok(())
}

fn enroll(args: EnrollArgs) -> Result<(), CliError> {
    let org = OrgCode::parse(&args.org).map_err(PkiError::BadOrg)?;
    if args.expires_days == 0 {
        return Err(CliError::usage("--expires-days must be at least 1"));
    }
    let request = EnrollRequest {
        org,
        device: args.device,
        unit_name: args.unit_name,
        parent: args.parent,
        listen: args.listen,
        names: args.names,
        valid_for: std::time::Duration::from_secs(u64::from(args.expires_days) * 86_400),
    };
    let pass = passphrase(args.passphrase_file.as_deref(), true)?;
    let sealed = enroll::seal(&args.ca, &request, &pass, &args.out).map_err(enroll_error)?;
    if sealed.new_deployment {
        eprintln!(
            "made the deployment's shared settings (ID key) in {}: SECRET, back it up with ca.key; every enrolled node gets them",
            args.ca.join(crate::pki::deployment::DEPLOYMENT_FILE).display()
        );
    }
    eprintln!(
        "wrote {} for {org}/{} (usable until {}); carry it to the device and run there:\n  halfsky -d <node home> init --enroll {}\ntell the passphrase separately, never on the same stick",
        sealed.path.display(),
        request.device,
        date(sealed.expires),
        sealed.path.file_name().unwrap_or_default().to_string_lossy()
    );
    Ok(())
}

/// Turns an enrollment failure into the command line's error.
pub(crate) fn enroll_error(e: enroll::EnrollError) -> CliError {
    match e {
        enroll::EnrollError::Pki(e) => CliError::Pki(e),
        enroll::EnrollError::Config(e) => CliError::Config(e),
        other => CliError::usage(other.to_string()),
    }
}

/// The passphrase of a file the CA holder carries by hand (an enrollment, an ID key):
/// from `file`'s first line, else from $HALFSKY_ENROLL_PASSPHRASE, else asked for on
/// the terminal (twice when `confirm`).
pub(crate) fn passphrase(file: Option<&Path>, confirm: bool) -> Result<String, CliError> {
    if let Some(file) = file {
        let text = std::fs::read_to_string(file).map_err(|e| {
            CliError::usage(format!(
                "cannot read the passphrase file {}: {e}",
                file.display()
            ))
        })?;
        return Ok(text.lines().next().unwrap_or_default().to_string());
    }
    if let Ok(pass) = std::env::var(enroll::PASSPHRASE_ENV) {
        return Ok(pass);
    }
    eprintln!(
        "the file's passphrase (at least {} characters):",
        enroll::MIN_PASSPHRASE
    );
    let pass = crate::cli::user::read_password(false)?;
    if confirm {
        eprintln!("again:");
        if crate::cli::user::read_password(false)? != pass {
            return Err(CliError::usage("the two passphrases differ; try again"));
        }
    }
    Ok(pass)
}
