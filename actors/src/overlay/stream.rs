//! Following a sequencer's flashblock stream (`--flashblocks-url ws://…`): text frames are JSON
//! flashblocks, binary frames brotli-compressed JSON. A stream silent for 10 s ([`TIMING`];
//! the client pings every 3 s, so a live server always answers something) is
//! considered dead and reconnected with exponential backoff.

use super::OverlayMsg;
use crate::{metrics as m, sequencer::FlashblockText};
use futures::{SinkExt, StreamExt};
use ractor::ActorRef;
use std::io::Read;
use tokio::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tracing::{debug, info, warn};

/// How a follower detects a dead stream.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    /// No frame at all (flashblock, pong, anything) for this long means the stream is dead.
    pub(crate) read_timeout: Duration,
    /// How often the client pings.
    pub(crate) ping_every: Duration,
}

/// The follower's timing in a node.
pub(crate) const TIMING: Timing = Timing {
    read_timeout: Duration::from_secs(10),
    ping_every: Duration::from_secs(3),
};
/// Longest wait between reconnection attempts: one flashblock interval, so a follower is back
/// within a flashblock of the sequencer's return (an attempt to a dead local port costs
/// nothing).
const MAX_BACKOFF: Duration = Duration::from_millis(200);

/// Every `reason` of the reconnection counter.
pub(crate) const RECONNECT_REASONS: &[&str] = &["connect", "closed", "error", "silent"];

/// Why a binary frame is not a flashblock.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DecompressError {
    #[error("bad brotli frame: {0}")]
    Brotli(std::io::Error),
    #[error("decompressed flashblock larger than {0} bytes")]
    TooLarge(usize),
    #[error("decompressed flashblock is not UTF-8")]
    NotUtf8(#[from] std::string::FromUtf8Error),
}

/// Decompresses a brotli frame of at most `max` bytes of JSON text.
pub(crate) fn decompress(data: &[u8], max: usize) -> Result<String, DecompressError> {
    let mut out = Vec::new();
    brotli_decompressor::Decompressor::new(data, 4096)
        .take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(DecompressError::Brotli)?;
    if out.len() > max {
        return Err(DecompressError::TooLarge(max));
    }
    Ok(String::from_utf8(out)?)
}

/// Reads the stream at `url` forever, handing every flashblock (at most `max_bytes` of JSON: a
/// flashblock can carry a whole block) to the overlay.
pub(crate) async fn follow(url: String, max_bytes: usize, overlay: ActorRef<OverlayMsg>) {
    follow_with(url, TIMING, max_bytes, move |text| {
        overlay.cast(OverlayMsg::Flashblock(text, None)).is_ok()
    })
    .await
}

/// Reads the stream at `url` until `deliver` returns false (its receiver is gone).
pub(crate) async fn follow_with(
    url: String,
    timing: Timing,
    max_bytes: usize,
    deliver: impl Fn(FlashblockText) -> bool,
) {
    let mut backoff = Duration::from_millis(100);
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(max_bytes))
        .max_frame_size(Some(max_bytes));
    loop {
        let connected =
            tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), false).await;
        let ws = match connected {
            Ok((ws, _)) => ws,
            Err(e) => {
                metrics::counter!(m::OVERLAY_STREAM_RECONNECTS, "reason" => "connect").increment(1);
                debug!(target: "overlay", %url, error = %e, ?backoff, "flashblock stream unreachable");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        info!(target: "overlay", %url, "following the flashblock stream");
        backoff = Duration::from_millis(100);
        let (mut sink, mut stream) = ws.split();
        let mut ping = tokio::time::interval(timing.ping_every);
        ping.reset();
        let mut deadline = Instant::now() + timing.read_timeout;
        let reason = loop {
            tokio::select! {
                frame = stream.next() => {
                    deadline = Instant::now() + timing.read_timeout;
                    match frame {
                        None | Some(Ok(Message::Close(_))) => break "closed",
                        Some(Err(_)) => break "error",
                        Some(Ok(Message::Text(text))) => {
                            if !deliver(text) {
                                return;
                            }
                        }
                        Some(Ok(Message::Binary(data))) => match decompress(&data, max_bytes) {
                            Ok(text) => {
                                if !deliver(FlashblockText::from(text)) {
                                    return;
                                }
                            }
                            Err(e) => {
                                metrics::counter!(m::OVERLAY_REJECTED, "reason" => "bad_frame").increment(1);
                                warn!(target: "overlay", %url, error = %e, "dropping a binary frame");
                            }
                        },
                        Some(Ok(_)) => {}
                    }
                }
                _ = tokio::time::sleep_until(deadline) => break "silent",
                _ = ping.tick() => {
                    if sink.send(Message::Ping(Default::default())).await.is_err() {
                        break "error";
                    }
                }
            }
        };
        metrics::counter!(m::OVERLAY_STREAM_RECONNECTS, "reason" => reason).increment(1);
        warn!(target: "overlay", %url, reason, "flashblock stream lost; reconnecting");
        tokio::time::sleep(backoff).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::{net::TcpListener, sync::mpsc};

    /// Compressed by the reference brotli encoder (Python `brotli.compress`, quality 11).
    const BROTLI_FRAME: &str = "1b5d00808dd462cd19ee04c1dc4afdf2c2edd5d644591908133128964e1f38e48039bab604030d08030f5952927c134c7faefd633edbe8c0d768325bac36175702a02207f22d38eef99ce302d1037b27797687";
    const BROTLI_TEXT: &str = r#"{"payload_id":"0x0102030405060708","index":3,"note":"brotli frame from the reference encoder"}"#;

    #[test]
    fn brotli_frames_decompress_and_garbage_is_refused() {
        let frame = alloy_primitives::hex::decode(BROTLI_FRAME).unwrap();
        assert_eq!(decompress(&frame, 1 << 20).unwrap(), BROTLI_TEXT);
        assert!(decompress(b"not brotli at all", 1 << 20).is_err());
        assert!(decompress(&frame[..frame.len() / 2], 1 << 20).is_err());
        assert!(matches!(
            decompress(&frame, BROTLI_TEXT.len() - 1),
            Err(DecompressError::TooLarge(_))
        ));
    }

    /// A server that completes the handshake, sends one brotli frame on the first connection,
    /// then never reads or writes again (so it answers no ping either): the follower delivers the
    /// frame, notices the silence and connects again.
    #[tokio::test]
    async fn a_silent_stream_is_detected_and_reconnected() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}", listener.local_addr().unwrap());
        let (conns, mut connected) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut held = Vec::new();
            for n in 0.. {
                let (tcp, _) = listener.accept().await.unwrap();
                let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
                if n == 0 {
                    let frame = alloy_primitives::hex::decode(BROTLI_FRAME).unwrap();
                    ws.send(Message::Binary(frame.into())).await.unwrap();
                }
                held.push(ws);
                let _ = conns.send(n);
            }
        });
        let (delivered, mut received) = mpsc::unbounded_channel();
        let timing = Timing {
            read_timeout: Duration::from_millis(400),
            ping_every: Duration::from_millis(100),
        };
        let follower = tokio::spawn(follow_with(url, timing, 1 << 20, move |text| {
            delivered.send(text.to_string()).is_ok()
        }));
        let wait = Duration::from_secs(5);
        assert_eq!(
            tokio::time::timeout(wait, connected.recv()).await.unwrap(),
            Some(0)
        );
        let text = tokio::time::timeout(wait, received.recv()).await.unwrap();
        assert_eq!(text.as_deref(), Some(BROTLI_TEXT));
        // Pings every 100 ms go unanswered; after 400 ms of silence the follower reconnects.
        let again = tokio::time::timeout(wait, connected.recv()).await.unwrap();
        assert_eq!(again, Some(1));
        follower.abort();
    }
}
