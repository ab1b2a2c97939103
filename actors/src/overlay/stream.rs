//! Following a sequencer's flashblock stream (`--flashblocks-url ws://…`): text frames are JSON
//! flashblocks, binary frames brotli-compressed JSON. A stream silent for [`READ_TIMEOUT`]
//! (the client pings every [`PING_EVERY`], so a live server always answers something) is
//! considered dead and reconnected with exponential backoff.

use super::OverlayMsg;
use crate::{broadcaster::FlashblockText, metrics as m};
use futures::{SinkExt, StreamExt};
use ractor::ActorRef;
use std::{io::Read, time::Duration};
use tokio_tungstenite::tungstenite::Message;
use tracing::{debug, info, warn};

/// No frame at all for this long means the stream is dead.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the client pings.
const PING_EVERY: Duration = Duration::from_secs(3);
/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Largest decompressed flashblock accepted.
const MAX_FLASHBLOCK_BYTES: u64 = 16 * 1024 * 1024;

/// Decompresses a brotli frame into JSON text.
pub(crate) fn decompress(data: &[u8]) -> Result<String, String> {
    let mut out = Vec::new();
    brotli_decompressor::Decompressor::new(data, 4096)
        .take(MAX_FLASHBLOCK_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("bad brotli frame: {e}"))?;
    if out.len() as u64 > MAX_FLASHBLOCK_BYTES {
        return Err("decompressed flashblock too large".into());
    }
    String::from_utf8(out).map_err(|_| "decompressed flashblock is not UTF-8".into())
}

/// Reads the stream at `url` forever, handing every flashblock to the overlay.
pub(crate) async fn follow(url: String, overlay: ActorRef<OverlayMsg>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let ws = match tokio_tungstenite::connect_async(url.as_str()).await {
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
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.reset();
        let reason = loop {
            tokio::select! {
                frame = tokio::time::timeout(READ_TIMEOUT, stream.next()) => match frame {
                    Err(_) => break "silent",
                    Ok(None) | Ok(Some(Ok(Message::Close(_)))) => break "closed",
                    Ok(Some(Err(_))) => break "error",
                    Ok(Some(Ok(Message::Text(text)))) => {
                        if overlay.cast(OverlayMsg::Flashblock(text, None)).is_err() {
                            return;
                        }
                    }
                    Ok(Some(Ok(Message::Binary(data)))) => match decompress(&data) {
                        Ok(text) => {
                            if overlay.cast(OverlayMsg::Flashblock(FlashblockText::from(text), None)).is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            metrics::counter!(m::OVERLAY_REJECTED, "reason" => "bad_frame").increment(1);
                            warn!(target: "overlay", %url, error = %e, "dropping a binary frame");
                        }
                    },
                    Ok(Some(Ok(_))) => {}
                },
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
