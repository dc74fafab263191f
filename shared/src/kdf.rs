//! The one key derivation of halfsky's sealed boxes (bundles, ID numbers): after a key
//! agreement, HKDF-SHA256 over the shared secret turns `label`, the sender's ephemeral
//! public key and the recipient's public key into a ChaCha20-Poly1305 key and nonce.

use chacha20poly1305::{ChaCha20Poly1305, KeyInit};
use hkdf::Hkdf;
use sha2::Sha256;

/// The cipher (and its nonce) of one sealed box. `salt` must differ between boxes
/// that share an ephemeral key.
pub(crate) fn sealing_cipher(
    shared: &[u8],
    salt: Option<&[u8]>,
    label: &[u8],
    ephemeral: &[u8],
    recipient: &[u8],
) -> (ChaCha20Poly1305, [u8; 12]) {
    let hk = Hkdf::<Sha256>::new(salt, shared);
    let mut info = label.to_vec();
    info.extend_from_slice(ephemeral);
    info.extend_from_slice(recipient);
    let mut okm = [0u8; 44];
    hk.expand(&info, &mut okm)
        .expect("44 bytes is a valid HKDF-SHA256 output length");
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&okm[32..]);
    (
        ChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(&okm[..32])),
        nonce,
    )
}
