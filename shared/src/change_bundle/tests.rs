use std::io::Write;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT};
use proptest::prelude::*;

use super::*;

/// A document of `n` records, one change each (like a cadre adding cards one by one).
fn records(n: usize) -> AutoCommit {
    let mut doc = AutoCommit::new();
    let women = doc.put_object(ROOT, "woman", ObjType::Map).unwrap();
    doc.commit();
    for i in 0..n {
        let w = doc
            .put_object(&women, format!("230129100201-W-{i:06}"), ObjType::Map)
            .unwrap();
        doc.put(&w, "name", format!("王秀英{i}")).unwrap();
        doc.put(&w, "birth_year", 1960 + (i % 40) as i64).unwrap();
        doc.put(&w, "status", "poor").unwrap();
        doc.commit();
    }
    doc
}

fn leb(mut n: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// A bundle chunk with no deps or actors, the given change columns and no op columns.
fn chunk(columns: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut body = vec![0, 0];
    leb(columns.len() as u64, &mut body);
    for (spec, data) in columns {
        leb(*spec, &mut body);
        leb(data.len() as u64, &mut body);
    }
    for (_, data) in columns {
        body.extend(data);
    }
    body.push(0);
    let mut out = MAGIC.to_vec();
    out.extend([0, 0, 0, 0, CHUNK_BUNDLE]);
    leb(body.len() as u64, &mut out);
    out.extend(body);
    out
}

#[test]
fn a_bundle_gives_back_exactly_the_changes_it_was_made_of() {
    let mut doc = records(300);
    let changes: Vec<_> = doc.get_changes(&[]);
    let hashes: Vec<_> = changes.iter().map(|c| c.hash()).collect();
    let bytes = encode(doc.document(), &hashes).unwrap();
    let raw: usize = changes.iter().map(|c| c.raw_bytes().len()).sum();
    assert!(bytes.len() * 2 < raw, "{} bundled, {raw} raw", bytes.len());
    let decoded = decode(&bytes, &Caps::default()).unwrap();
    let back: Vec<_> = decoded
        .iter()
        .map(|b| automerge::Change::from_bytes(b.clone()).unwrap().hash())
        .collect();
    assert_eq!(back, hashes);
    // Applied to an empty document they rebuild the same heads.
    let mut fresh = automerge::Automerge::new();
    fresh
        .apply_changes(
            decoded
                .into_iter()
                .map(|b| automerge::Change::from_bytes(b).unwrap()),
        )
        .unwrap();
    assert_eq!(fresh.get_heads(), doc.get_heads());
}

#[test]
fn a_part_of_a_history_bundles_too() {
    let mut doc = records(50);
    let early = doc.get_heads();
    let mut doc2 = doc.fork();
    for i in 0..20 {
        doc2.put(ROOT, format!("note{i}"), "x").unwrap();
        doc2.commit();
    }
    let later: Vec<_> = doc2
        .get_changes(&early)
        .into_iter()
        .map(|c| c.hash())
        .collect();
    let bytes = encode(doc2.document(), &later).unwrap();
    let decoded = decode(&bytes, &Caps::default()).unwrap();
    assert_eq!(decoded.len(), 20);
    let mut base = doc.document().clone();
    base.apply_changes(
        decoded
            .into_iter()
            .map(|b| automerge::Change::from_bytes(b).unwrap()),
    )
    .unwrap();
    assert_eq!(base.get_heads(), doc2.get_heads());
}

#[test]
fn a_deflate_bomb_in_a_column_is_refused_within_the_cap() {
    let mut deflate = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..8 {
        deflate.write_all(&zeros).unwrap();
    }
    let bomb = deflate.finish().unwrap();
    let bytes = chunk(&[((1 << 4) | 0b1000 | 7, bomb)]);
    let caps = Caps {
        max_change_bytes: 1 << 20,
        max_inflated_batch_bytes: 4 << 20,
    };
    assert_eq!(
        check(&bytes, &caps),
        Err(BundleCodecError::TooLarge(4 << 20))
    );
    assert!(decode(&bytes, &caps).is_err());
}

#[test]
fn a_run_of_a_billion_copies_is_refused_before_automerge_expands_it() {
    // Run length 1e9 of the integer 5, in an integer column: six bytes.
    let mut run = Vec::new();
    let mut n: i64 = 1_000_000_000;
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 && byte & 0x40 == 0 {
            run.push(byte);
            break;
        }
        run.push(byte | 0x80);
    }
    run.push(5);
    let bytes = chunk(&[((1 << 4) | 2, run)]);
    assert_eq!(
        check(&bytes, &Caps::default()),
        Err(BundleCodecError::TooManyRows)
    );
}

#[test]
fn damaged_bundles_are_errors_never_an_empty_success() {
    let mut doc = records(40);
    let hashes: Vec<_> = doc.get_changes(&[]).iter().map(|c| c.hash()).collect();
    let bytes = encode(doc.document(), &hashes).unwrap();
    let caps = Caps::default();
    assert!(matches!(
        decode(&bytes[..bytes.len() - 1], &caps),
        Err(BundleCodecError::Truncated(_))
    ));
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(decode(&longer, &caps), Err(BundleCodecError::TrailingBytes));
    let mut change = bytes.clone();
    change[8] = 1;
    assert_eq!(decode(&change, &caps), Err(BundleCodecError::NotABundle(1)));
    assert!(decode(&[], &caps).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    /// Any byte of a real bundle flipped: an error or the changes, never a panic, and
    /// never more than the caps.
    #[test]
    fn flipped_bytes_never_panic(at in 0usize..4096, to in any::<u8>()) {
        static BUNDLE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        let mut bytes = BUNDLE
            .get_or_init(|| {
                let mut doc = records(30);
                let hashes: Vec<_> = doc.get_changes(&[]).iter().map(|c| c.hash()).collect();
                encode(doc.document(), &hashes).unwrap()
            })
            .clone();
        let at = at % bytes.len();
        bytes[at] = to;
        let _ = decode(&bytes, &Caps::default());
    }
}
