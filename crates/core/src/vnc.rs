//! One-time VNC URLs (ECS DescribeInstanceVncUrl): the token in the URL is the only credential
//! of the console session behind it (the RFB session asks for no password), so it is random
//! (160 bits from the OS), valid for one connection, and only for a short while (ECS: a URL not
//! connected to within 15 seconds expires). Tokens live in memory only: a restart forgets them,
//! which at worst makes a client ask again, and no token ever reaches the disk.
//!
//! A used or expired token is remembered a little longer than its validity so that the refusal
//! says why ([`VncRefusal::Used`], [`VncRefusal::Expired`]) instead of "unknown"; after that it
//! is dropped, so the table holds at most the tokens of about two validity periods.

use rand::RngCore;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a VncUrl may wait for its connection: ECS's 15 seconds.
pub const DEFAULT_VNC_URL_VALIDITY: Duration = Duration::from_secs(15);

/// Random bytes in a token (hex-encoded in the URL).
const TOKEN_BYTES: usize = 20;

/// Whose console a token opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VncTicket {
    pub account_id: String,
    pub instance_id: String,
}

/// Why a token opens nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VncRefusal {
    /// Never issued, or forgotten long ago (or after a restart).
    Unknown,
    /// It already opened a connection: a VncUrl is for one connection.
    Used,
    /// Not connected to within its validity.
    Expired,
}

impl VncRefusal {
    /// The error code the refused upgrade is answered with.
    pub fn code(self) -> &'static str {
        match self {
            VncRefusal::Unknown => "InvalidVncUrl.NotFound",
            VncRefusal::Used => "InvalidVncUrl.Used",
            VncRefusal::Expired => "InvalidVncUrl.Expired",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            VncRefusal::Unknown => "The specified VNC URL does not exist. Call DescribeInstanceVncUrl for a new one.",
            VncRefusal::Used => {
                "The specified VNC URL has already been used; it is valid for one connection. Call DescribeInstanceVncUrl for a new one."
            }
            VncRefusal::Expired => {
                "The specified VNC URL has expired: it must be connected to within its validity. Call DescribeInstanceVncUrl for a new one."
            }
        }
    }
}

struct Entry {
    ticket: VncTicket,
    expires: Instant,
    used: bool,
}

/// The tokens issued and not yet forgotten.
pub struct VncTickets {
    validity: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

impl VncTickets {
    pub fn new(validity: Duration) -> VncTickets {
        VncTickets { validity, entries: Mutex::new(HashMap::new()) }
    }

    /// How long a new token may wait for its connection.
    pub fn validity(&self) -> Duration {
        self.validity
    }

    /// A new token for `ticket`, valid from `now` for the validity.
    pub fn issue(&self, ticket: VncTicket, now: Instant) -> String {
        let mut bytes = [0u8; TOKEN_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let token = hex::encode(bytes);
        let mut entries = self.lock();
        self.forget_old(&mut entries, now);
        entries.insert(token.clone(), Entry { ticket, expires: now + self.validity, used: false });
        token
    }

    /// Use `token` at `now`: its ticket, once; every later use is refused.
    pub fn redeem(&self, token: &str, now: Instant) -> Result<VncTicket, VncRefusal> {
        let mut entries = self.lock();
        self.forget_old(&mut entries, now);
        let entry = entries.get_mut(token).ok_or(VncRefusal::Unknown)?;
        if entry.used {
            return Err(VncRefusal::Used);
        }
        if now > entry.expires {
            return Err(VncRefusal::Expired);
        }
        entry.used = true;
        Ok(entry.ticket.clone())
    }

    /// How many tokens are remembered (for tests and logs).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drop tokens whose validity ended more than one validity ago.
    fn forget_old(&self, entries: &mut HashMap<String, Entry>, now: Instant) {
        entries.retain(|_, e| now <= e.expires + self.validity);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The part of a token that may be logged: enough to tell connections apart, far too little
/// to use.
pub fn token_hint(token: &str) -> &str {
    let end = token.char_indices().nth(6).map_or(token.len(), |(i, _)| i);
    &token[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(id: &str) -> VncTicket {
        VncTicket { account_id: "1".into(), instance_id: id.into() }
    }

    #[test]
    fn a_token_opens_once_within_its_validity() {
        let tickets = VncTickets::new(Duration::from_secs(15));
        let t0 = Instant::now();
        let token = tickets.issue(ticket("i-a"), t0);
        assert_eq!(token.len(), 2 * TOKEN_BYTES);
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(tickets.redeem(&token, t0 + Duration::from_secs(14)), Ok(ticket("i-a")));
        assert_eq!(tickets.redeem(&token, t0 + Duration::from_secs(14)), Err(VncRefusal::Used));
    }

    #[test]
    fn expired_unknown_and_forgotten_tokens_are_refused() {
        let tickets = VncTickets::new(Duration::from_secs(15));
        let t0 = Instant::now();
        let token = tickets.issue(ticket("i-a"), t0);
        assert_eq!(tickets.redeem(&token, t0 + Duration::from_secs(16)), Err(VncRefusal::Expired));
        // Still expired (not used) when asked again, then forgotten after another validity.
        assert_eq!(tickets.redeem(&token, t0 + Duration::from_secs(29)), Err(VncRefusal::Expired));
        assert_eq!(tickets.redeem(&token, t0 + Duration::from_secs(31)), Err(VncRefusal::Unknown));
        assert_eq!(tickets.redeem("0123456789", t0), Err(VncRefusal::Unknown));
        assert_eq!(tickets.redeem("", t0), Err(VncRefusal::Unknown));
    }

    #[test]
    fn tokens_are_distinct_and_old_ones_are_dropped() {
        let tickets = VncTickets::new(Duration::from_secs(15));
        let t0 = Instant::now();
        let tokens: std::collections::HashSet<String> =
            (0..100).map(|i| tickets.issue(ticket(&format!("i-{i}")), t0)).collect();
        assert_eq!(tokens.len(), 100);
        assert_eq!(tickets.len(), 100);
        // Issuing after two validities forgets all the earlier ones.
        tickets.issue(ticket("i-late"), t0 + Duration::from_secs(31));
        assert_eq!(tickets.len(), 1);
    }

    #[test]
    fn a_hint_is_a_short_prefix() {
        assert_eq!(token_hint("abcdef0123456789"), "abcdef");
        assert_eq!(token_hint("abc"), "abc");
        assert_eq!(token_hint("ééééééé"), "éééééé");
    }
}
