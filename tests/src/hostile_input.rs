//! Input a hostile node could send, built outside the normal writer: an inflation
//! bomb in Automerge's compressed-change chunk, changes written on a copy of a
//! village's document by a hostile device, and a bundle sealed with a real
//! node's key around contents of our choosing. Shared by the hostile-peer tests and
//! the admission benchmark, so both meet the same bytes.

use std::io::Write;

use halfsky_node::NodeHome;
use halfsky_shared::bundle::{self, Contents, Sender};
use halfsky_shared::OrgCode;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};

/// A compressed-change chunk (Automerge chunk type 2) whose DEFLATE data inflates to
/// `size` zero bytes: a few KiB on the wire for a 64 MiB bomb, about 1 MiB for 1 GiB.
pub fn inflation_bomb(size: usize) -> Vec<u8> {
    let mut deflate = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let block = vec![0u8; 1024 * 1024];
    for _ in 0..size / block.len() {
        deflate.write_all(&block).expect("writing to memory");
    }
    let data = deflate.finish().expect("writing to memory");
    // Magic bytes, a checksum nobody gets to check, the chunk type, then the length
    // as a LEB128 number.
    let mut chunk = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 2];
    let mut len = data.len() as u64;
    loop {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            chunk.push(byte);
            break;
        }
        chunk.push(byte | 0x80);
    }
    chunk.extend(data);
    chunk
}

/// A bundle of `docs` sealed by the node at `from` (unit `from_org`) to the node at
/// `to` (unit `to_org`), as `bundle export` would write it but with contents of our
/// choosing: valid for an hour from now.
pub fn sealed_bundle(
    from: &NodeHome,
    from_org: OrgCode,
    to: &NodeHome,
    to_org: OrgCode,
    docs: bundle::DocChanges,
) -> Vec<u8> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let key = PrivatePkcs8KeyDer::from_pem_file(from.dir().join("node.key"))
        .expect("the sender's key")
        .secret_pkcs8_der()
        .to_vec();
    let cert = CertificateDer::from_pem_file(from.dir().join("node.pem"))
        .expect("the sender's certificate")
        .to_vec();
    let to_cert = CertificateDer::from_pem_file(to.dir().join("node.pem"))
        .expect("the recipient's certificate");
    let (_, parsed) = X509Certificate::from_der(&to_cert).expect("a certificate");
    let now = chrono::Utc::now().timestamp();
    bundle::seal(
        Sender {
            org: from_org,
            cert_der: &cert,
            key_pkcs8: &key,
        },
        to_org,
        &parsed.public_key().subject_public_key.data,
        &Contents::Changes { docs, held: vec![] },
        now,
        now + 3600,
        [9; 32],
    )
    .expect("sealing a bundle")
}

/// The village's document rebuilt from `real`, to write into as a hostile device
/// (actor bytes all `actor`) outside the normal writer.
pub fn hostile_copy(real: &[Vec<u8>], actor: u8) -> automerge::AutoCommit {
    let mut doc = automerge::AutoCommit::new().with_actor(automerge::ActorId::from([actor; 16]));
    let changes = real
        .iter()
        .map(|r| automerge::Change::from_bytes(r.clone()).unwrap())
        .collect::<Vec<_>>();
    doc.apply_changes(changes).unwrap();
    doc
}

/// A change made outside the normal writer, on top of `real`: it writes a woman
/// under `id` (another unit's id) into the village's `women` map.
pub fn foreign_record_change(real: &[Vec<u8>], id: &str) -> Vec<u8> {
    use automerge::transaction::Transactable;
    use automerge::ReadDoc;
    let mut doc = hostile_copy(real, 8);
    let (_, women) = doc.get(automerge::ROOT, "women").unwrap().unwrap();
    let obj = doc.put_object(&women, id, automerge::ObjType::Map).unwrap();
    doc.put(&obj, "_fields", r#"{"name":"假名","birth_year":1980}"#)
        .unwrap();
    doc.put(&obj, "_created_at", "2026-01-01T00:00:00Z")
        .unwrap();
    let hash = doc.commit().expect("the write is a change");
    doc.get_change_by_hash(&hash).unwrap().raw_bytes().to_vec()
}
