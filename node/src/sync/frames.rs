//! Length-prefixed frames over QUIC streams: the one reading loop that node links and
//! relay links share. The prefix is checked against the frame type's size cap before
//! a byte of the body is read, so a peer cannot make this node allocate more than one
//! frame's worth.

use std::fmt::Display;

use quinn::RecvStream;

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameReadError {
    /// The connection went away (a dropped link, not a protocol fault).
    #[error("the link was lost")]
    ConnectionLost,
    /// The stream failed or ended inside a frame.
    #[error("reading from the peer failed: {0}")]
    Read(#[from] quinn::ReadExactError),
    /// The length prefix is not acceptable (empty, or over the frame type's cap).
    #[error("protocol error from the peer: {0}")]
    Protocol(String),
}

/// Reads the next frame's body: `Ok(None)` at a clean end of the stream. `body_len`
/// checks the 4-byte prefix (the frame type's `body_len`) before the body is read.
pub async fn read_body<E: Display>(
    recv: &mut RecvStream,
    body_len: impl Fn([u8; 4]) -> Result<usize, E>,
) -> Result<Option<Vec<u8>>, FrameReadError> {
    let mut prefix = [0u8; 4];
    match recv.read_exact(&mut prefix).await {
        Ok(()) => {}
        Err(quinn::ReadExactError::FinishedEarly(0)) => return Ok(None),
        Err(quinn::ReadExactError::ReadError(quinn::ReadError::ConnectionLost(_))) => {
            return Err(FrameReadError::ConnectionLost)
        }
        Err(e) => return Err(e.into()),
    }
    let len = body_len(prefix).map_err(|e| FrameReadError::Protocol(e.to_string()))?;
    let mut body = vec![0u8; len];
    recv.read_exact(&mut body).await?;
    Ok(Some(body))
}
