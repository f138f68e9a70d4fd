//! A byte-level tap under one HTTP/2 connection, for the few things APNs does that the
//! `h2` crate has no API for.
//!
//! APNs starts a token connection with `MAX_CONCURRENT_STREAMS = 1` and raises it to
//! about 1000 once a request carries a valid provider token. `h2` fixes its SETTINGS at
//! handshake, so the tap sits between `h2` and TLS and
//!
//! * rewrites `MAX_CONCURRENT_STREAMS` in the server's first SETTINGS frame (h2 itself is
//!   configured with the raised limit; the connection handler refuses extra streams while
//!   the advertised limit is 1),
//! * injects later SETTINGS frames at a frame boundary of h2's output, and
//! * drops, from the client's input, the one SETTINGS ACK each injected frame provokes,
//!   because h2 would treat an ACK for a frame it did not send as a protocol error.
//!
//! The tap only reads frame headers; payload bytes pass through untouched.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The client connection preface, which precedes the client's first frame.
const PREFACE_LEN: usize = 24;
/// Frame header: 24-bit length, type, flags, 31-bit stream id.
const HEADER_LEN: usize = 9;
const TYPE_SETTINGS: u8 = 0x4;
const TYPE_GOAWAY: u8 = 0x7;
const FLAG_ACK: u8 = 0x1;
/// The SETTINGS identifier of MAX_CONCURRENT_STREAMS.
pub(crate) const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;
/// Past this many buffered output bytes, writes wait for the socket.
const OUT_HIGH_WATER: usize = 64 * 1024;
/// How much is read from the socket at a time.
const READ_CHUNK: usize = 16 * 1024;

/// Encodes one SETTINGS frame with the given (identifier, value) pairs.
pub(crate) fn settings_frame(settings: &[(u16, u32)]) -> Vec<u8> {
    let mut f = frame_header(settings.len() * 6, TYPE_SETTINGS, 0, 0);
    for (id, value) in settings {
        f.extend_from_slice(&id.to_be_bytes());
        f.extend_from_slice(&value.to_be_bytes());
    }
    f
}

/// Encodes a GOAWAY frame: last stream id, error code, and debug data (APNs puts
/// `{"reason":"…"}` there).
pub(crate) fn goaway_frame(last_stream_id: u32, error_code: u32, debug: &[u8]) -> Vec<u8> {
    let mut f = frame_header(8 + debug.len(), TYPE_GOAWAY, 0, 0);
    f.extend_from_slice(&(last_stream_id & 0x7fff_ffff).to_be_bytes());
    f.extend_from_slice(&error_code.to_be_bytes());
    f.extend_from_slice(debug);
    f
}

fn frame_header(len: usize, kind: u8, flags: u8, stream: u32) -> Vec<u8> {
    let len = len as u32;
    let mut h = Vec::with_capacity(HEADER_LEN + len as usize);
    h.extend_from_slice(&len.to_be_bytes()[1..]);
    h.push(kind);
    h.push(flags);
    h.extend_from_slice(&stream.to_be_bytes());
    h
}

/// The handle the connection handler keeps to act on the wire.
#[derive(Default)]
pub(crate) struct TapControl {
    /// Whole frames to write at the next frame boundary of h2's output.
    inject: Mutex<Vec<u8>>,
    /// Whether `inject` holds anything: checked at every frame boundary, so the lock is
    /// only taken when there is something to take.
    pending: AtomicBool,
    /// How many SETTINGS ACKs from the client belong to injected frames.
    acks_to_drop: AtomicU32,
}

impl TapControl {
    /// Sends a SETTINGS frame that h2 does not know about.
    pub(crate) fn send_settings(&self, settings: &[(u16, u32)]) {
        self.acks_to_drop.fetch_add(1, Ordering::SeqCst);
        self.inject(&settings_frame(settings));
    }

    /// Sends a GOAWAY h2 does not know about, with `debug` as its debug data (APNs puts
    /// `{"reason":…}` there). h2's own GOAWAY, if it sends one, follows it.
    pub(crate) fn send_goaway(&self, last_stream_id: u32, debug: &[u8]) {
        self.inject(&goaway_frame(last_stream_id, 0, debug));
    }

    fn inject(&self, frames: &[u8]) {
        let mut inject = self.inject.lock().unwrap_or_else(|e| e.into_inner());
        inject.extend_from_slice(frames);
        self.pending.store(true, Ordering::Release);
    }

    fn take_injection(&self) -> Option<Vec<u8>> {
        if !self.pending.load(Ordering::Acquire) {
            return None;
        }
        let mut pending = self.inject.lock().unwrap_or_else(|e| e.into_inner());
        self.pending.store(false, Ordering::Release);
        (!pending.is_empty()).then(|| std::mem::take(&mut *pending))
    }
}

/// Where a byte stream is relative to HTTP/2 framing.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Cursor {
    /// Inside the client preface; this many bytes left.
    Preface(usize),
    /// At the start of a frame header.
    Boundary,
    /// Inside a frame header that has been read this far (write side only).
    Header(usize),
    /// Inside a payload; this many bytes left.
    Payload(usize),
}

/// The tap: wraps the TLS stream h2 reads and writes.
pub(crate) struct Tap<IO> {
    io: IO,
    ctl: Arc<TapControl>,
    /// Output waiting for the socket; `out[out_pos..]` is unsent.
    out: Vec<u8>,
    out_pos: usize,
    /// Framing position of h2's output.
    w: Cursor,
    /// The header being read on the write side.
    w_header: [u8; HEADER_LEN],
    /// The MAX_CONCURRENT_STREAMS to advertise in h2's first SETTINGS frame instead of
    /// h2's own; taken when the frame is patched.
    rewrite_max_streams: Option<u32>,
    /// Where the first SETTINGS frame's payload starts in `out`, and its length, while
    /// it waits to be patched (nothing past `start` is sent until then).
    patch: Option<(usize, usize)>,
    /// Framing position of the client's input.
    r: Cursor,
    /// Scanned input h2 has not read yet; `rbuf[rpos..]` is unread.
    rbuf: Vec<u8>,
    rpos: usize,
    /// A partial frame header, scanned once it is complete.
    partial: Vec<u8>,
}

impl<IO> Tap<IO> {
    /// Wraps `io`; `advertise_max_streams` replaces MAX_CONCURRENT_STREAMS in the
    /// server's first SETTINGS frame.
    pub(crate) fn new(io: IO, advertise_max_streams: Option<u32>) -> (Self, Arc<TapControl>) {
        let ctl = Arc::new(TapControl::default());
        let tap = Tap {
            io,
            ctl: ctl.clone(),
            out: Vec::new(),
            out_pos: 0,
            w: Cursor::Boundary,
            w_header: [0; HEADER_LEN],
            rewrite_max_streams: advertise_max_streams,
            patch: None,
            r: Cursor::Preface(PREFACE_LEN),
            rbuf: Vec::new(),
            rpos: 0,
            partial: Vec::new(),
        };
        (tap, ctl)
    }

    /// Tracks h2's output framing over `data` and appends it to `out`, injecting pending
    /// frames at the boundaries.
    fn accept_output(&mut self, mut data: &[u8]) {
        if self.out.capacity() == 0 {
            self.out.reserve(data.len().max(4096));
        }
        while !data.is_empty() {
            match self.w {
                Cursor::Boundary | Cursor::Preface(_) => {
                    if let Some(frames) = self.ctl.take_injection() {
                        self.out.extend_from_slice(&frames);
                    }
                    self.w = Cursor::Header(0);
                }
                Cursor::Header(have) => {
                    let n = (HEADER_LEN - have).min(data.len());
                    self.w_header[have..have + n].copy_from_slice(&data[..n]);
                    self.out.extend_from_slice(&data[..n]);
                    data = &data[n..];
                    if have + n < HEADER_LEN {
                        self.w = Cursor::Header(have + n);
                        continue;
                    }
                    let h = self.w_header;
                    let len = u32::from_be_bytes([0, h[0], h[1], h[2]]) as usize;
                    if h[3] == TYPE_SETTINGS && h[4] & FLAG_ACK == 0 && self.rewrite_max_streams.is_some() {
                        self.patch = Some((self.out.len(), len));
                    }
                    self.w = if len == 0 { Cursor::Boundary } else { Cursor::Payload(len) };
                }
                Cursor::Payload(left) => {
                    let n = left.min(data.len());
                    self.out.extend_from_slice(&data[..n]);
                    data = &data[n..];
                    self.w = if n == left { Cursor::Boundary } else { Cursor::Payload(left - n) };
                }
            }
        }
        self.apply_patch();
    }

    /// Rewrites MAX_CONCURRENT_STREAMS once the first SETTINGS payload is complete.
    fn apply_patch(&mut self) {
        let Some((start, len)) = self.patch else {
            return;
        };
        if self.out.len() < start + len {
            return;
        }
        if let Some(value) = self.rewrite_max_streams.take() {
            for entry in self.out[start..start + len].chunks_exact_mut(6) {
                if u16::from_be_bytes([entry[0], entry[1]]) == SETTINGS_MAX_CONCURRENT_STREAMS {
                    entry[2..6].copy_from_slice(&value.to_be_bytes());
                }
            }
        }
        self.patch = None;
    }
}

impl<IO: AsyncWrite + Unpin> Tap<IO> {
    /// Writes buffered output to the socket until it is empty (or the socket is full).
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let limit = self.patch.map_or(self.out.len(), |(start, _)| start);
        while self.out_pos < limit {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.out[self.out_pos..limit]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out_pos += n;
        }
        if self.out_pos == self.out.len() && self.patch.is_none() {
            // Drained: an idle connection keeps no buffer (a busy one allocates one
            // per burst, which costs far less than the TLS record it becomes).
            release(&mut self.out);
            self.out_pos = 0;
        }
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Tap<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.out.len() - this.out_pos >= OUT_HIGH_WATER {
            ready!(this.poll_drain(cx))?;
        }
        this.accept_output(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.w == Cursor::Boundary
            && let Some(frames) = this.ctl.take_injection()
        {
            this.out.extend_from_slice(&frames);
        }
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().poll_flush(cx))?;
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Tap<IO> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            // Scanned bytes first, as many as h2's buffer takes.
            if this.rpos < this.rbuf.len() {
                let n = (this.rbuf.len() - this.rpos).min(buf.remaining());
                buf.put_slice(&this.rbuf[this.rpos..this.rpos + n]);
                this.rpos += n;
                if this.rpos == this.rbuf.len() {
                    release(&mut this.rbuf);
                    this.rpos = 0;
                }
                return Poll::Ready(Ok(()));
            }
            // Then more from the socket, into our own buffer, so a frame header is
            // always scanned whole whatever room h2 leaves.
            // (On the stack, uninitialised: a connection holds no read buffer between
            // reads.)
            let mut chunk = [std::mem::MaybeUninit::<u8>::uninit(); READ_CHUNK];
            let mut read = ReadBuf::uninit(&mut chunk);
            let polled = Pin::new(&mut this.io).poll_read(cx, &mut read);
            let data = read.filled();
            if let Poll::Ready(Ok(())) = polled
                && !data.is_empty()
            {
                if this.partial.is_empty() {
                    this.scan_input(data);
                } else {
                    let mut joined = std::mem::take(&mut this.partial);
                    joined.extend_from_slice(data);
                    this.scan_input(&joined);
                }
                continue;
            }
            ready!(polled)?;
            // The end: let h2 see any partial header, then the end itself.
            if this.partial.is_empty() {
                return Poll::Ready(Ok(()));
            }
            this.rbuf = std::mem::take(&mut this.partial);
        }
    }
}

/// Empties `buf` and gives its memory back: an idle connection keeps no buffer.
fn release(buf: &mut Vec<u8>) {
    *buf = Vec::new();
}

impl<IO> Tap<IO> {
    /// Walks the frames in `data` (which continues the client's input), appends them to
    /// the bytes h2 will read except the SETTINGS ACKs owed to injected frames, and keeps
    /// a trailing partial frame header for the next read.
    fn scan_input(&mut self, data: &[u8]) {
        let mut pos = 0;
        while pos < data.len() {
            let rest = &data[pos..];
            match self.r {
                Cursor::Preface(left) | Cursor::Payload(left) => {
                    let n = left.min(rest.len());
                    self.rbuf.extend_from_slice(&rest[..n]);
                    pos += n;
                    self.r = match self.r {
                        _ if n == left => Cursor::Boundary,
                        Cursor::Preface(_) => Cursor::Preface(left - n),
                        _ => Cursor::Payload(left - n),
                    };
                }
                Cursor::Boundary | Cursor::Header(_) => {
                    if rest.len() < HEADER_LEN {
                        self.partial.extend_from_slice(rest);
                        return;
                    }
                    let h = &rest[..HEADER_LEN];
                    let len = u32::from_be_bytes([0, h[0], h[1], h[2]]) as usize;
                    let is_ack = h[3] == TYPE_SETTINGS && h[4] & FLAG_ACK != 0 && len == 0;
                    let drop = is_ack
                        && self
                            .ctl
                            .acks_to_drop
                            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                            .is_ok();
                    if !drop {
                        self.rbuf.extend_from_slice(h);
                    }
                    pos += HEADER_LEN;
                    self.r = if len == 0 { Cursor::Boundary } else { Cursor::Payload(len) };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

    #[test]
    fn frames_encode_as_rfc_9113_says() {
        assert_eq!(settings_frame(&[(3, 1000)]), [0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0x03, 0xe8]);
        let g = goaway_frame(0, 0, br#"{"reason":"Shutdown"}"#);
        assert_eq!(&g[..9], &[0, 0, 29, 7, 0, 0, 0, 0, 0]);
        assert_eq!(&g[9..17], &[0; 8]);
        assert_eq!(&g[17..], br#"{"reason":"Shutdown"}"#);
    }

    #[tokio::test]
    async fn rewrites_first_settings_and_injects_at_boundaries() {
        let (a, mut b) = tokio::io::duplex(1 << 16);
        let (mut tap, ctl) = Tap::new(a, Some(1));
        let first = settings_frame(&[(1, 4096), (3, 1000), (6, 8000)]);
        // Written in awkward pieces, as a codec might.
        tap.write_all(&first[..4]).await.expect("write");
        tap.write_all(&first[4..12]).await.expect("write");
        tap.write_all(&first[12..]).await.expect("write");
        let data = [0, 0, 2, 0, 1, 0, 0, 0, 1, b'h', b'i'];
        tap.write_all(&data[..10]).await.expect("write");
        ctl.send_settings(&[(3, 1000)]);
        tap.write_all(&data[10..]).await.expect("write");
        tap.flush().await.expect("flush");
        let mut got = vec![0; first.len() + data.len() + 15];
        b.read_exact(&mut got).await.expect("read");
        assert_eq!(&got[..first.len()], &settings_frame(&[(1, 4096), (3, 1), (6, 8000)])[..]);
        assert_eq!(&got[first.len()..first.len() + data.len()], &data);
        assert_eq!(&got[first.len() + data.len()..], &settings_frame(&[(3, 1000)])[..]);
    }

    #[tokio::test]
    async fn an_idle_connection_holds_no_buffers() {
        // A burst each way (more than one read's worth in, a large write out), then
        // quiet: what the tap allocated for the burst is given back.
        let (a, mut b) = tokio::io::duplex(1 << 20);
        let (mut tap, _ctl) = Tap::new(a, None);
        let mut input = PREFACE.to_vec();
        let payload = vec![7u8; 40_000];
        input.extend_from_slice(&[0, 0x9c, 0x40, 0, 0, 0, 0, 0, 1]);
        input.extend_from_slice(&payload);
        b.write_all(&input).await.expect("write");
        let mut got = vec![0; input.len()];
        tap.read_exact(&mut got).await.expect("read");
        assert_eq!(got, input);
        let mut output = vec![0u8, 0x9c, 0x40, 0, 0, 0, 0, 0, 1];
        output.extend_from_slice(&payload);
        tap.write_all(&output).await.expect("write");
        tap.flush().await.expect("flush");
        let mut echoed = vec![0; output.len()];
        b.read_exact(&mut echoed).await.expect("read");
        assert_eq!(echoed, output);
        assert_eq!(tap.out.capacity(), 0, "output buffer kept");
        assert_eq!(tap.rbuf.capacity(), 0, "input buffer kept");
        assert_eq!(tap.partial.capacity(), 0, "partial header buffer kept");
    }

    #[tokio::test]
    async fn drops_only_the_acks_owed_to_injected_settings() {
        let (a, mut b) = tokio::io::duplex(1 << 16);
        let (mut tap, ctl) = Tap::new(a, None);
        ctl.send_settings(&[(3, 1000)]);
        let ack = [0u8, 0, 0, 4, 1, 0, 0, 0, 0];
        let ping = [0u8, 0, 8, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];
        let mut input = PREFACE.to_vec();
        input.extend_from_slice(&ack);
        input.extend_from_slice(&ping);
        input.extend_from_slice(&ack);
        // Feed one byte at a time: headers straddle every read.
        let writer = tokio::spawn(async move {
            for byte in input {
                b.write_all(&[byte]).await.expect("write");
                tokio::task::yield_now().await;
            }
            b
        });
        let mut expected = PREFACE.to_vec();
        expected.extend_from_slice(&ping);
        expected.extend_from_slice(&ack);
        let mut got = vec![0; expected.len()];
        tap.read_exact(&mut got).await.expect("read");
        assert_eq!(got, expected);
        drop(writer.await.expect("writer"));
        assert_eq!(ctl.acks_to_drop.load(Ordering::SeqCst), 0);
    }

    /// h2 may leave only a few bytes of room in its read buffer; a frame header must
    /// still be scanned whole (reading three bytes at a time here, with the input all
    /// there at once).
    #[tokio::test]
    async fn a_small_read_buffer_does_not_split_what_is_scanned() {
        let (a, mut b) = tokio::io::duplex(1 << 16);
        let (mut tap, ctl) = Tap::new(a, None);
        ctl.send_settings(&[(3, 1000)]);
        ctl.send_settings(&[(3, 2)]);
        let ack = [0u8, 0, 0, 4, 1, 0, 0, 0, 0];
        let ping = [0u8, 0, 8, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];
        let mut input = PREFACE.to_vec();
        for _ in 0..3 {
            input.extend_from_slice(&ping);
            input.extend_from_slice(&ack);
        }
        b.write_all(&input).await.expect("write");
        drop(b);
        let mut expected = PREFACE.to_vec();
        expected.extend_from_slice(&ping);
        expected.extend_from_slice(&ping);
        expected.extend_from_slice(&ping);
        expected.extend_from_slice(&ack);
        let mut got = Vec::new();
        let mut small = [0u8; 3];
        loop {
            let n = tap.read(&mut small).await.expect("read");
            if n == 0 {
                break;
            }
            got.extend_from_slice(&small[..n]);
        }
        assert_eq!(got, expected, "two ACKs dropped, the third passed, nothing reordered");
        assert_eq!(ctl.acks_to_drop.load(Ordering::SeqCst), 0);
    }
}
