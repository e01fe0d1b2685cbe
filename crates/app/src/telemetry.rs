use std::{fmt, io::IsTerminal, str::FromStr, time::SystemTime};

use tracing::{Event, Level, Subscriber, field::Field};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::{
    EnvFilter, Layer,
    field::Visit,
    fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields, format::Writer},
    layer::{Context, SubscriberExt},
    registry::LookupSpan,
    util::SubscriberInitExt,
};

/// How log lines are written (`LOG__FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw.to_ascii_lowercase().as_str() {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            _ => Err(format!("unknown log format {raw:?}, expected text or json")),
        }
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
///
/// Lines are written by a background thread (tracing-appender), so a
/// request never waits on stderr; keep the returned guard alive until exit
/// so that the last lines are flushed.
#[must_use = "dropping the guard stops the log writer"]
pub fn init(format: LogFormat) -> WorkerGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .finish()
            .with(QuietParseErrors)
            .init(),
        LogFormat::Text => builder
            .event_format(TextLine {
                ansi: std::io::stderr().is_terminal(),
            })
            .finish()
            .with(QuietParseErrors)
            .init(),
    }
    guard
}

/// actix-http answers a request its parser refuses (a NUL in a header,
/// more than 96 headers, `Content-Length` beside `Transfer-Encoding`) with
/// a bare 400 or 431 before any of our code runs, then logs it at ERROR as
/// `stream error: request parse error: …`: any client could fill the error
/// log at will. actix logs the same refusal at TRACE (`parse error …`,
/// `request head was too big…`, target `actix_http::h1::dispatcher`), so
/// this layer drops the ERROR copy and nothing else.
struct QuietParseErrors;

impl<S: Subscriber> Layer<S> for QuietParseErrors {
    fn event_enabled(&self, event: &Event<'_>, _: Context<'_, S>) -> bool {
        let metadata = event.metadata();
        if *metadata.level() != Level::ERROR || metadata.target() != "actix_http::h1::dispatcher" {
            return true;
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        !message.0.starts_with("stream error: request parse error")
    }
}

/// An event's message, as text.
struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

/// The text line of tracing-subscriber's default format
/// (`2026-11-24T23:05:22.833285Z  INFO target: message key=value`), written
/// without its general machinery: every request writes one, and the
/// default formatter cost as much as serving `GET /` itself.
struct TextLine {
    ansi: bool,
}

impl<S, N> FormatEvent<S, N> for TextLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut stamp = [0u8; TIMESTAMP_LEN];
        writer.write_str(timestamp(SystemTime::now(), &mut stamp))?;
        let level = event.metadata().level();
        if self.ansi {
            write!(
                writer,
                " {}{:>5}\x1b[0m ",
                level_colour(*level),
                level.as_str()
            )?;
        } else {
            write!(writer, " {:>5} ", level.as_str())?;
        }
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                writer.write_str(span.name())?;
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    write!(writer, "{{{fields}}}")?;
                }
                writer.write_str(": ")?;
            }
        }
        writer.write_str(event.metadata().target())?;
        writer.write_str(":")?;
        let mut fields = Fields {
            writer: &mut writer,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        writer.write_str("\n")
    }
}

fn level_colour(level: Level) -> &'static str {
    match level {
        Level::ERROR => "\x1b[31m",
        Level::WARN => "\x1b[33m",
        Level::INFO => "\x1b[32m",
        Level::DEBUG => "\x1b[34m",
        Level::TRACE => "\x1b[35m",
    }
}

/// Writes ` message key=value …`, strings quoted as the default format does.
struct Fields<'a, 'w> {
    writer: &'a mut Writer<'w>,
    result: fmt::Result,
}

impl Fields<'_, '_> {
    /// Writes ` key=` (or a space, for the message) then `parts`, unless an
    /// earlier write failed.
    fn put(&mut self, field: &Field, parts: &[&str]) {
        if self.result.is_ok() {
            self.result = self.key(field).and_then(|()| {
                parts
                    .iter()
                    .try_for_each(|part| self.writer.write_str(part))
            });
        }
    }

    fn key(&mut self, field: &Field) -> fmt::Result {
        self.writer.write_str(" ")?;
        if field.name() != "message" {
            self.writer.write_str(field.name())?;
            self.writer.write_str("=")?;
        }
        Ok(())
    }
}

impl Visit for Fields<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        let plain = value
            .bytes()
            .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\');
        if field.name() == "message" {
            self.put(field, &[value]);
        } else if plain {
            // What `{:?}` writes for a string that needs no escape.
            self.put(field, &["\"", value, "\""]);
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, &[itoa::Buffer::new().format(value)]);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, &[itoa::Buffer::new().format(value)]);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, &[ryu::Buffer::new().format(value)]);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_ok() {
            self.result = self
                .key(field)
                .and_then(|()| write!(self.writer, "{value:?}"));
        }
    }
}

const TIMESTAMP_LEN: usize = "2026-11-24T23:05:22.833285Z".len();

/// `time` as RFC 3339 UTC with microseconds, written into `buffer`.
fn timestamp(time: SystemTime, buffer: &mut [u8; TIMESTAMP_LEN]) -> &str {
    let since_epoch = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let seconds = since_epoch.as_secs();
    let (year, month, day) = civil_from_days(seconds / 86_400);
    let of_day = seconds % 86_400;
    let fields: [(u64, usize, usize); 7] = [
        (year, 0, 4),
        (month, 5, 2),
        (day, 8, 2),
        (of_day / 3600, 11, 2),
        (of_day % 3600 / 60, 14, 2),
        (of_day % 60, 17, 2),
        (u64::from(since_epoch.subsec_micros()), 20, 6),
    ];
    buffer.copy_from_slice(b"0000-00-00T00:00:00.000000Z");
    for (mut value, start, width) in fields {
        for digit in buffer[start..start + width].iter_mut().rev() {
            *digit = b'0' + u8::try_from(value % 10).unwrap_or(0);
            value /= 10;
        }
    }
    std::str::from_utf8(buffer).unwrap_or("")
}

/// Year, month and day of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for dates after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_parsers_refusals_are_not_logged_as_errors() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .event_format(TextLine { ansi: false })
            .with_writer(move || writer.clone())
            .finish()
            .with(QuietParseErrors);
        tracing::subscriber::with_default(subscriber, || {
            // What actix-http 3 logs for a NUL in a header, too many headers
            // or Content-Length with Transfer-Encoding, after its bare 4xx.
            tracing::error!(
                target: "actix_http::h1::dispatcher",
                "stream error: {}",
                "request parse error: invalid Header provided"
            );
            tracing::error!(
                target: "actix_http::h1::dispatcher",
                "stream error: request parse error: message head is too large"
            );
            // The rest stays an error.
            tracing::error!(
                target: "actix_http::h1::dispatcher",
                "Internal server error: unexpected eof"
            );
            tracing::error!(target: "zentra", "stream error: request parse error: kept");
        });
        let lines = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert!(!lines.contains("parse error: invalid Header"), "{lines}");
        assert!(!lines.contains("head is too large"), "{lines}");
        assert!(lines.contains("unexpected eof"), "{lines}");
        assert!(lines.contains("kept"), "{lines}");
    }

    #[test]
    fn a_line_reads_as_the_default_format_does() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .event_format(TextLine { ansi: false })
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(
                request_id = "r-1",
                cause = "a \"quoted\"\nline",
                method = %"GET",
                status = 503_u16,
                latency_ms = 0.25,
                attempts = -2_i64,
                "request"
            );
        });
        let line = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let (stamp, rest) = line.split_at(TIMESTAMP_LEN);
        assert!(stamp.starts_with("20") && stamp.ends_with('Z'), "{line}");
        assert_eq!(
            rest,
            "  WARN app::telemetry::tests: request request_id=\"r-1\" \
             cause=\"a \\\"quoted\\\"\\nline\" method=GET \
             status=503 latency_ms=0.25 attempts=-2\n"
        );
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_microseconds() {
        let at = |seconds: u64, micros: u32| {
            let time = SystemTime::UNIX_EPOCH
                + Duration::from_secs(seconds)
                + Duration::from_micros(u64::from(micros));
            timestamp(time, &mut [0; TIMESTAMP_LEN]).to_owned()
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(at(1_795_561_522, 833_285), "2026-11-24T23:05:22.833285Z");
        // A leap day and the last second of a leap year.
        assert_eq!(at(951_782_400, 1), "2000-02-29T00:00:00.000001Z");
        assert_eq!(at(1_735_689_599, 999_999), "2024-12-31T23:59:59.999999Z");
    }
}
