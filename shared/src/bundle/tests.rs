use p256::pkcs8::EncodePrivateKey;
use proptest::prelude::*;

use super::*;

fn org(code: &str) -> OrgCode {
    OrgCode::parse(code).unwrap()
}

struct Keys {
    pkcs8: Vec<u8>,
    public: Vec<u8>,
}

fn keys(seed: u8) -> Keys {
    let secret = SecretKey::from_slice(&[seed; 32]).unwrap();
    Keys {
        pkcs8: secret.to_pkcs8_der().unwrap().as_bytes().to_vec(),
        public: secret.public_key().to_sec1_bytes().to_vec(),
    }
}

const NOW: i64 = 1_800_000_000;

fn sample() -> Contents {
    Contents::Changes {
        docs: vec![(
            org("230129100201"),
            vec![b"change one".to_vec(), vec![7; 300]],
        )],
        held: vec![(org("230129100000"), vec![[3; 32]])],
    }
}

fn sealed(contents: &Contents) -> (Vec<u8>, Keys, Keys) {
    let (alice, bob) = (keys(1), keys(2));
    let bytes = seal(
        Sender {
            org: org("230129100201"),
            cert_der: b"fake cert",
            key_pkcs8: &alice.pkcs8,
        },
        org("230129100000"),
        &bob.public,
        contents,
        NOW,
        NOW + 100,
        [9; 32],
    )
    .unwrap();
    (bytes, alice, bob)
}

#[test]
fn round_trip() {
    let (bytes, alice, bob) = sealed(&sample());
    let opened = open(&bytes, org("230129100000"), &bob.pkcs8, NOW).unwrap();
    assert_eq!(opened.header.sender, org("230129100201"));
    assert_eq!(opened.sender_cert, b"fake cert");
    assert_eq!(opened.verify(&alice.public).unwrap(), sample());
    // Someone else's key does not verify.
    assert_eq!(opened.verify(&bob.public), Err(BundleError::BadSignature));
}

#[test]
fn refusals() {
    let (bytes, _alice, bob) = sealed(&sample());
    let township = org("230129100000");
    assert!(matches!(
        open(&bytes, org("230129000000"), &bob.pkcs8, NOW),
        Err(BundleError::WrongRecipient { .. })
    ));
    assert!(matches!(
        open(&bytes, township, &bob.pkcs8, NOW + 101),
        Err(BundleError::Expired { .. })
    ));
    // Right org, wrong key (another device's): the tag fails.
    assert_eq!(
        open(&bytes, township, &keys(3).pkcs8, NOW).unwrap_err(),
        BundleError::Tampered
    );
    assert!(matches!(
        open(&bytes[..bytes.len() - 1], township, &bob.pkcs8, NOW),
        Err(BundleError::Truncated(_))
    ));
    assert_eq!(
        open(b"PK\x03\x04", township, &bob.pkcs8, NOW).unwrap_err(),
        BundleError::NotABundle
    );
    // Every single-byte change is refused, never accepted as something else.
    let (_, prefix_len) = read_header(&bytes).unwrap();
    for i in (0..bytes.len())
        .step_by(7)
        .chain([prefix_len, bytes.len() - 1])
    {
        let mut bad = bytes.clone();
        bad[i] ^= 0x20;
        let result = open(&bad, township, &bob.pkcs8, NOW);
        assert!(result.is_err(), "flipping byte {i} was not noticed");
    }
}

#[test]
fn forged_by_another_key_fails_the_signature() {
    // Mallory seals a bundle claiming Alice's certificate but signs with his own key:
    // it opens (sealed to Bob), but does not verify with Alice's key.
    let (alice, bob, mallory) = (keys(1), keys(2), keys(4));
    let bytes = seal(
        Sender {
            org: org("230129100201"),
            cert_der: b"fake cert",
            key_pkcs8: &mallory.pkcs8,
        },
        org("230129100000"),
        &bob.public,
        &sample(),
        NOW,
        NOW + 100,
        [5; 32],
    )
    .unwrap();
    let opened = open(&bytes, org("230129100000"), &bob.pkcs8, NOW).unwrap();
    assert_eq!(opened.verify(&alice.public), Err(BundleError::BadSignature));
}

fn arb_contents() -> impl Strategy<Value = Contents> {
    let org = Just(org("230129100201"));
    let changes = proptest::collection::vec(
        (
            org,
            proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..5),
        ),
        0..4,
    );
    let heads = proptest::collection::vec(
        (org, proptest::collection::vec(any::<[u8; 32]>(), 0..4)),
        0..4,
    );
    let refusals = proptest::collection::vec(
        (
            org,
            proptest::option::of(any::<[u8; 32]>()),
            ".{0,20}",
            ".{0,80}",
        )
            .prop_map(|(org, change, rule, reason)| Refusal {
                org,
                change,
                rule,
                reason,
            }),
        0..4,
    );
    prop_oneof![
        (changes.clone(), heads.clone()).prop_map(|(docs, held)| Contents::Changes { docs, held }),
        (heads.clone(), changes.clone())
            .prop_map(|(heads, changes)| Contents::Ack { heads, changes }),
        (heads, changes, refusals).prop_map(|(heads, changes, refused)| Contents::AckRefusing {
            heads,
            changes,
            refused
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn round_trips(contents in arb_contents()) {
        let (bytes, alice, bob) = sealed(&contents);
        let opened = open(&bytes, org("230129100000"), &bob.pkcs8, NOW).unwrap();
        prop_assert_eq!(opened.verify(&alice.public).unwrap(), contents);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let bob = keys(2);
        let _ = read_header(&bytes);
        let _ = open(&bytes, org("230129100000"), &bob.pkcs8, NOW);
        let mut framed = MAGIC.to_vec();
        framed.push(BUNDLE_FORMAT);
        framed.extend_from_slice(&bytes);
        let _ = open(&framed, org("230129100000"), &bob.pkcs8, NOW);
    }

    #[test]
    fn any_flip_is_refused(pos in any::<usize>(), bit in 0u8..8) {
        let (mut bytes, _alice, bob) = sealed(&sample());
        let i = pos % bytes.len();
        bytes[i] ^= 1 << bit;
        prop_assert!(open(&bytes, org("230129100000"), &bob.pkcs8, NOW).is_err());
    }
}

#[test]
fn packed_changes_are_sealed_as_format_2_and_everything_else_as_format_1() {
    let packed = Contents::Packed {
        docs: vec![(org("230129100201"), vec![1, 2, 3])],
        held: vec![],
    };
    let (bytes, alice, bob) = sealed(&packed);
    assert_eq!(bytes[MAGIC.len()], PACKED_FORMAT);
    let opened = open(&bytes, org("230129100000"), &bob.pkcs8, NOW).unwrap();
    assert_eq!(opened.verify(&alice.public).unwrap(), packed);
    let (plain, ..) = sealed(&sample());
    assert_eq!(plain[MAGIC.len()], BUNDLE_FORMAT, "older releases read it");
    // A format this release does not know says to upgrade.
    let mut future = bytes.clone();
    future[MAGIC.len()] = PACKED_FORMAT + 1;
    let refused = open(&future, org("230129100000"), &bob.pkcs8, NOW).unwrap_err();
    assert_eq!(refused, BundleError::Format(PACKED_FORMAT + 1));
    assert!(refused.to_string().contains("upgrade halfsky"));
}
