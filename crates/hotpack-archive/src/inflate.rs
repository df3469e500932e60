//! The byte sources under an entry reader: the compressed bytes of one entry read with
//! bounded `pread`s, and a raw deflate stream over them that knows where it ended.

use std::io::{self, Read};

use crate::zipfmt::Data;

/// The compressed bytes of one entry, read with bounded `pread`s.
#[derive(Debug)]
pub(crate) struct RangeReader<'a> {
    pub(crate) data: &'a Data,
    pub(crate) pos: u64,
    pub(crate) end: u64,
}

impl Read for RangeReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = usize::try_from(self.end - self.pos).unwrap_or(usize::MAX);
        let want = buf.len().min(left);
        if want == 0 {
            return Ok(0);
        }
        let n = self.data.read_at(self.pos, &mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the bundle shrank while open"));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// A raw deflate stream over an entry's compressed bytes that knows where the stream ended:
/// a stream cut short is an error (not a short read), and the bytes left after its final
/// block are counted ([`Inflate::trailing`]) so the reader can refuse them.
pub(crate) struct Inflate<'a> {
    pub(crate) raw: RangeReader<'a>,
    pub(crate) z: flate2::Decompress,
    pub(crate) input: Vec<u8>,
    pub(crate) pos: usize,
    pub(crate) len: usize,
    pub(crate) ended: bool,
}

impl std::fmt::Debug for Inflate<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflate").field("raw", &self.raw).field("ended", &self.ended).finish_non_exhaustive()
    }
}

impl Inflate<'_> {
    /// Compressed bytes after the end of the stream (0 while it has not ended).
    pub(crate) fn trailing(&self) -> u64 {
        if !self.ended {
            return 0;
        }
        (self.len - self.pos) as u64 + (self.raw.end - self.raw.pos)
    }
}

impl Read for Inflate<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.ended || out.is_empty() {
            return Ok(0);
        }
        loop {
            let mut at_eof = false;
            if self.pos == self.len {
                self.len = self.raw.read(&mut self.input)?;
                self.pos = 0;
                at_eof = self.len == 0;
            }
            let (in_before, out_before) = (self.z.total_in(), self.z.total_out());
            let status = self
                .z
                .decompress(&self.input[self.pos..self.len], out, flate2::FlushDecompress::None)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            let consumed = usize::try_from(self.z.total_in() - in_before).unwrap_or(usize::MAX);
            let produced = usize::try_from(self.z.total_out() - out_before).unwrap_or(usize::MAX);
            self.pos = (self.pos + consumed).min(self.len);
            if status == flate2::Status::StreamEnd {
                self.ended = true;
            }
            if produced > 0 || self.ended {
                return Ok(produced);
            }
            if consumed == 0 && (at_eof || self.pos < self.len) {
                // No input left (or no progress on the input there is): the stream was cut
                // before its final block.
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the deflate stream ends before its final block",
                ));
            }
        }
    }
}
