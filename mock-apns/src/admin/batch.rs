//! `POST /api/v1/devices/batch` read as it arrives: each entry of `{"devices":[…]}` is
//! parsed the moment its closing brace comes in and its bytes are dropped, so the route
//! holds the devices read so far and at most one entry's text — never the whole body.

use crate::devices::operations::NewDevice;

/// The longest one entry of the array may be.
pub(crate) const MAX_ENTRY: usize = 1 << 20;

/// Where the reader is in `{"devices":[ … ]}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    Start,
    BeforeKey,
    Key,
    AfterKey,
    BeforeArray,
    BeforeEntry { first: bool },
    Entry,
    AfterEntry,
    AfterArray,
    End,
}

/// Reads the batch body chunk by chunk.
pub(crate) struct BatchReader {
    at: At,
    /// The key or the entry being read.
    text: Vec<u8>,
    /// Inside an entry: nesting depth, and the string/escape state.
    depth: u32,
    in_string: bool,
    escaped: bool,
    /// Bytes read so far, for error positions.
    offset: usize,
    /// The text length of the entries read so far (what their devices weigh, roughly).
    parsed: usize,
    pub(crate) devices: Vec<NewDevice>,
}

impl BatchReader {
    pub(crate) fn new() -> Self {
        BatchReader {
            at: At::Start,
            text: Vec::new(),
            depth: 0,
            in_string: false,
            escaped: false,
            offset: 0,
            parsed: 0,
            devices: Vec::new(),
        }
    }

    /// Reads the next piece of the body; `Err` says what is wrong with it.
    pub(crate) fn feed(&mut self, chunk: &[u8]) -> Result<(), String> {
        for &b in chunk {
            self.byte(b)?;
            self.offset += 1;
        }
        Ok(())
    }

    /// About how many bytes this holds: the devices read (by their text's length) and
    /// the entry being read. Whitespace and the body's framing weigh nothing.
    pub(crate) fn held(&self) -> usize {
        self.parsed + self.text.len()
    }

    /// The body ended: the devices, if it was whole.
    pub(crate) fn finish(self) -> Result<Vec<NewDevice>, String> {
        match self.at {
            At::End => Ok(self.devices),
            At::Start => Err("missing field `devices`".into()),
            _ => Err(format!("the body ended inside the JSON, at byte {}", self.offset)),
        }
    }

    fn byte(&mut self, b: u8) -> Result<(), String> {
        let ws = b.is_ascii_whitespace();
        let unexpected = |what: &str| Err(format!("expected {what} at byte {}, found {:?}", self.offset, b as char));
        match self.at {
            At::Start if ws => {}
            At::Start if b == b'{' => self.at = At::BeforeKey,
            At::Start => return unexpected("`{`"),
            At::BeforeKey if ws => {}
            At::BeforeKey if b == b'"' => {
                self.text.clear();
                self.text.push(b);
                self.in_string = true;
                self.at = At::Key;
            }
            At::BeforeKey => return unexpected("the key `devices`"),
            At::Key => {
                self.text.push(b);
                self.string_byte(b);
                if !self.in_string {
                    let key: String = serde_json::from_slice(&self.text).map_err(|e| e.to_string())?;
                    if key != "devices" {
                        return Err(format!("unknown field `{key}`, expected `devices`"));
                    }
                    self.text = Vec::new();
                    self.at = At::AfterKey;
                }
            }
            At::AfterKey if ws => {}
            At::AfterKey if b == b':' => self.at = At::BeforeArray,
            At::AfterKey => return unexpected("`:`"),
            At::BeforeArray if ws => {}
            At::BeforeArray if b == b'[' => self.at = At::BeforeEntry { first: true },
            At::BeforeArray => return unexpected("an array of devices"),
            At::BeforeEntry { .. } if ws => {}
            At::BeforeEntry { first: true } if b == b']' => self.at = At::AfterArray,
            At::BeforeEntry { .. } if b == b'{' => {
                self.text.push(b);
                self.depth = 1;
                self.at = At::Entry;
            }
            At::BeforeEntry { .. } => return unexpected("a device (`{`)"),
            At::Entry => {
                if self.text.len() >= MAX_ENTRY {
                    return Err(format!("device {} is over {} bytes", self.devices.len(), MAX_ENTRY));
                }
                self.text.push(b);
                let was_in_string = self.in_string;
                self.string_byte(b);
                if !was_in_string && !self.in_string {
                    match b {
                        b'{' | b'[' => self.depth += 1,
                        b'}' | b']' => self.depth -= 1,
                        _ => {}
                    }
                }
                if self.depth == 0 {
                    let device: NewDevice = serde_json::from_slice(&self.text)
                        .map_err(|e| format!("device {}: {e}", self.devices.len()))?;
                    self.devices.push(device);
                    self.parsed += self.text.len();
                    self.text.clear();
                    self.at = At::AfterEntry;
                }
            }
            At::AfterEntry if ws => {}
            At::AfterEntry if b == b',' => self.at = At::BeforeEntry { first: false },
            At::AfterEntry if b == b']' => self.at = At::AfterArray,
            At::AfterEntry => return unexpected("`,` or `]`"),
            At::AfterArray if ws => {}
            At::AfterArray if b == b'}' => self.at = At::End,
            At::AfterArray if b == b',' => {
                return Err("unknown field after `devices`: only `devices` is allowed".into());
            }
            At::AfterArray => return unexpected("`}`"),
            At::End if ws => {}
            At::End => return unexpected("the end of the body"),
        }
        Ok(())
    }

    /// Follows strings: a `"` not escaped opens or closes one.
    fn string_byte(&mut self, b: u8) {
        if self.escaped {
            self.escaped = false;
        } else if self.in_string && b == b'\\' {
            self.escaped = true;
        } else if b == b'"' {
            self.in_string = !self.in_string;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(body: &[u8], piece: usize) -> Result<Vec<NewDevice>, String> {
        let mut r = BatchReader::new();
        for chunk in body.chunks(piece.max(1)) {
            r.feed(chunk)?;
        }
        r.finish()
    }

    #[test]
    fn reads_what_serde_reads_in_pieces_of_any_size() {
        let body = br#" { "devices" : [ {"udid":"A-1","apps":[{"bundle_id":"com.example.a"}]},
            {"apps":[{"bundle_id":"com.example.b\"}{[","environment":"production"}]} , {"udid":"C"} ] } "#;
        for piece in [1, 2, 3, 7, 64, body.len()] {
            let devices = read(body, piece).expect("a batch");
            assert_eq!(devices.len(), 3);
            assert_eq!(devices[0].udid.as_deref(), Some("A-1"));
            assert_eq!(devices[1].apps[0].bundle_id, "com.example.b\"}{[");
            assert_eq!(devices[2].udid.as_deref(), Some("C"));
        }
        assert_eq!(read(br#"{"devices":[]}"#, 1).expect("empty").len(), 0);
    }

    #[test]
    fn refuses_what_serde_refuses() {
        for bad in [
            &br#"{"devices":[{"udid":1}]}"#[..],
            br#"{"devices":[{"nope":1}]}"#,
            br#"{"devices":[{}],"more":1}"#,
            br#"{"other":[]}"#,
            br#"{"devices":[{},]}"#,
            br#"{"devices":[1]}"#,
            br#"{"devices":[{}]"#,
            br#"{"devices":[{}]} x"#,
            br#"["#,
            b"",
            b"   ",
        ] {
            assert!(read(bad, 3).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn an_entry_has_a_size_limit() {
        let mut body = br#"{"devices":[{"udid":""#.to_vec();
        body.extend(std::iter::repeat_n(b'x', MAX_ENTRY));
        let err = read(&body, 4096).expect_err("too long");
        assert!(err.contains("over"), "{err}");
    }
}
