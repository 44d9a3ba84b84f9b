//! Words for people: plurals and durations that read naturally ("1 minute", "2 hours 5 minutes"), and untrusted
//! text made safe to show.

use std::time::Duration;

/// A Unix time in seconds as a time, or `None` when no clock can show it (past the year 9999, where chrono stops,
/// and no token lives that long): stored dates come from files and servers.
pub fn unix_time(seconds: u64) -> Option<std::time::SystemTime> {
    const YEAR_10000: u64 = 253_402_300_800;
    (seconds < YEAR_10000).then(|| std::time::UNIX_EPOCH + Duration::from_secs(seconds))
}

/// A Unix time as the day and month in this computer's time zone ("23 Nov").
pub fn day_and_month(seconds: u64) -> String {
    local(seconds).map_or_else(
        || "an impossible date".to_owned(),
        |time| time.format("%-d %b").to_string(),
    )
}

/// A Unix time as a person reads it in a table: the time of day when it is today, else the day and the time
/// ("14:05", "23 Nov 14:05").
pub fn when(seconds: u64, now: std::time::SystemTime) -> String {
    let (Some(time), Some(today)) = (local(seconds), local_time(now)) else {
        return "an impossible date".to_owned();
    };
    if time.date_naive() == today.date_naive() {
        time.format("%H:%M").to_string()
    } else {
        time.format("%-d %b %H:%M").to_string()
    }
}

fn local(seconds: u64) -> Option<chrono::DateTime<chrono::Local>> {
    local_time(unix_time(seconds)?)
}

fn local_time(time: std::time::SystemTime) -> Option<chrono::DateTime<chrono::Local>> {
    Some(chrono::DateTime::<chrono::Utc>::from(time).with_timezone(&chrono::Local))
}

/// Now in Unix seconds.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// "1 item", "2 items".
pub fn count(number: u64, singular: &str, plural: &str) -> String {
    if number == 1 {
        format!("1 {singular}")
    } else {
        format!("{number} {plural}")
    }
}

/// A duration rounded to what a person needs: seconds under a minute, minutes under an hour, then hours and
/// minutes, then days.
pub fn duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if seconds < 60 {
        return count(seconds, "second", "seconds");
    }
    let minutes = seconds / 60;
    if minutes < 60 {
        return count(minutes, "minute", "minutes");
    }
    let hours = minutes / 60;
    if hours < 48 {
        let rest = minutes % 60;
        return if rest == 0 {
            count(hours, "hour", "hours")
        } else {
            format!(
                "{} {}",
                count(hours, "hour", "hours"),
                count(rest, "minute", "minutes")
            )
        };
    }
    count(hours / 24, "day", "days")
}

/// A server's (or any untrusted) text as it may be shown: control characters (terminal escape sequences
/// included) become spaces, and it is cut at `max` characters.
pub fn excerpt(text: &str, max: usize) -> String {
    let mut shown: String = text
        .trim_end()
        .chars()
        .take(max)
        .map(|c| if c.is_control() && c != '\n' { ' ' } else { c })
        .collect();
    if text.trim_end().chars().count() > max {
        shown.push_str(" …");
    }
    shown
}

/// A mailconnect command for a person to type, such as `mailconnect login <mailbox>`: `words` after the
/// subcommand are values (mailboxes), so a `--` goes before them when one starts with `-` (an address may), and each
/// is quoted for the shell when it holds anything but letters, digits and `@._+-` (an address may hold `$`, `'`,
/// `&` ...). The one way suggested commands are written.
pub fn command(subcommand: &str, words: &[&str]) -> String {
    let mut line = format!("mailconnect {subcommand}");
    if words.iter().any(|word| word.starts_with('-')) {
        line.push_str(" --");
    }
    for word in words {
        line.push(' ');
        line.push_str(&shell_quoted(word));
    }
    line
}

fn shell_quoted(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "@._+-".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        return word.to_owned();
    }
    if cfg!(windows) {
        // PowerShell and cmd: double quotes; a double quote is not valid in an address's plain form.
        format!("\"{}\"", word.replace('"', "\"\""))
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// Time left in whole minutes, rounded up, as a countdown shows it: "15 minutes", "1 minute", "less than a
/// minute" in the last one.
pub fn minutes_left(left: std::time::Duration) -> String {
    let seconds = left.as_secs();
    if seconds < 60 {
        return "less than a minute".to_owned();
    }
    count(seconds.div_ceil(60), "minute", "minutes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        let cases = [
            (0, "0 seconds"),
            (1, "1 second"),
            (59, "59 seconds"),
            (60, "1 minute"),
            (61, "1 minute"),
            (119, "1 minute"),
            (3599, "59 minutes"),
            (3600, "1 hour"),
            (3660, "1 hour 1 minute"),
            (7500, "2 hours 5 minutes"),
            (48 * 3600, "2 days"),
            (90 * 86400, "90 days"),
        ];
        for (seconds, words) in cases {
            assert_eq!(duration(Duration::from_secs(seconds)), words, "{seconds} s");
        }
    }

    #[test]
    fn a_countdown_says_whole_minutes_rounded_up() {
        use std::time::Duration;
        assert_eq!(minutes_left(Duration::from_secs(899)), "15 minutes");
        assert_eq!(minutes_left(Duration::from_secs(61)), "2 minutes");
        assert_eq!(minutes_left(Duration::from_secs(60)), "1 minute");
        assert_eq!(minutes_left(Duration::from_secs(59)), "less than a minute");
    }
}
