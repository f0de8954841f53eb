//! Duration literals of `#[model(max_age = "30s")]` and
//! `#[model(stale_while_revalidate = "5m")]`: a whole number and a unit,
//! `ms`, `s`, `m` or `h`, read at compile time into milliseconds, with a
//! suggestion for what was probably meant.

/// The units, their names in messages, and how many milliseconds each is.
const UNITS: &[(&str, u64)] = &[("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000)];

/// Other spellings people write, and the unit each means.
const ALIASES: &[(&[&str], &str)] = &[
    (
        &["msec", "msecs", "millis", "millisecond", "milliseconds"],
        "ms",
    ),
    (&["sec", "secs", "second", "seconds"], "s"),
    (&["min", "mins", "minute", "minutes"], "m"),
    (&["hr", "hrs", "hour", "hours"], "h"),
];

/// What every message ends with.
const SHAPE: &str = "a duration is a whole number and a unit, `ms`, `s`, `m` or `h`, \
                     as in \"30s\" or \"5m\"";

/// `text` in milliseconds, or the message of an error spanned on it.
pub(crate) fn parse(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let digits = trimmed.len()
        - trimmed
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .len();
    let (number, rest) = trimmed.split_at(digits);
    let unit = rest.trim_start();
    let fail = |hint: Option<String>| {
        let hint = hint.map_or_else(String::new, |hint| format!(": did you mean \"{hint}\"?"));
        Err(format!("invalid duration \"{text}\"{hint} ({SHAPE})"))
    };
    if number.is_empty() {
        return fail(None);
    }
    let Ok(count) = number.parse::<u64>() else {
        return Err(format!("duration \"{text}\" is too long ({SHAPE})"));
    };
    if let Some(fraction) = unit.strip_prefix('.') {
        return fail(whole(count, fraction));
    }
    match UNITS.iter().find(|(name, _)| *name == unit) {
        Some((_, millis)) if trimmed == text && rest == unit => count
            .checked_mul(*millis)
            .ok_or_else(|| format!("duration \"{text}\" is too long ({SHAPE})")),
        Some(_) => fail(Some(format!("{count}{unit}"))),
        None if unit.is_empty() => fail(Some(format!("{count}s"))),
        None => {
            let lower = unit.to_ascii_lowercase();
            let alias = ALIASES
                .iter()
                .find(|(spellings, _)| spellings.contains(&lower.as_str()))
                .map(|(_, unit)| *unit)
                .or_else(|| {
                    UNITS
                        .iter()
                        .map(|(name, _)| *name)
                        .find(|name| *name == lower)
                });
            let days = matches!(lower.as_str(), "d" | "day" | "days")
                .then(|| format!("{}h", count.saturating_mul(24)));
            fail(alias.map(|unit| format!("{count}{unit}")).or(days))
        }
    }
}

/// The same duration as a whole number of a smaller unit: "1.5s" is
/// "1500ms".
fn whole(count: u64, fraction: &str) -> Option<String> {
    let digits = fraction.len()
        - fraction
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .len();
    let (decimals, unit) = fraction.split_at(digits);
    let unit = unit.trim_start();
    let millis = UNITS.iter().find(|(name, _)| *name == unit)?.1;
    let scale = 10_u64.checked_pow(u32::try_from(decimals.len()).ok()?)?;
    let decimals: u64 = if decimals.is_empty() {
        0
    } else {
        decimals.parse().ok()?
    };
    let total = count.checked_mul(scale)?.checked_add(decimals)?;
    let total = total.checked_mul(millis)?;
    if total % scale != 0 {
        return None;
    }
    let millis = total / scale;
    // In the largest unit it is a whole number of: "1.5m" is "90s".
    let (name, size) = UNITS
        .iter()
        .rev()
        .find(|(_, size)| millis % size == 0)
        .unwrap_or(&UNITS[0]);
    Some(format!("{}{name}", millis / size))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn reads_each_unit() {
        assert_eq!(parse("250ms"), Ok(250));
        assert_eq!(parse("30s"), Ok(30_000));
        assert_eq!(parse("5m"), Ok(300_000));
        assert_eq!(parse("2h"), Ok(7_200_000));
        assert_eq!(parse("0s"), Ok(0));
    }

    fn hint(text: &str) -> String {
        parse(text).unwrap_err()
    }

    #[test]
    fn suggests_what_was_meant() {
        assert!(
            hint("30").contains("did you mean \"30s\"?"),
            "{}",
            hint("30")
        );
        assert!(hint("30sec").contains("did you mean \"30s\"?"));
        assert!(hint("5 minutes").contains("did you mean \"5m\"?"));
        assert!(hint("2 h").contains("did you mean \"2h\"?"));
        assert!(hint("2H").contains("did you mean \"2h\"?"));
        assert!(hint("1d").contains("did you mean \"24h\"?"));
        assert!(hint("1.5s").contains("did you mean \"1500ms\"?"));
        assert!(hint("1.5m").contains("did you mean \"90s\"?"));
        assert!(hint("0.5h").contains("did you mean \"30m\"?"));
        assert!(hint(" 30s").contains("did you mean \"30s\"?"));
    }

    #[test]
    fn says_what_a_duration_is_without_a_guess() {
        for text in ["", "s", "soon", "-5s", "1.0001ms", "5w"] {
            let message = hint(text);
            assert!(!message.contains("did you mean"), "{text}: {message}");
            assert!(
                message.contains("`ms`, `s`, `m` or `h`"),
                "{text}: {message}"
            );
        }
    }

    #[test]
    fn an_overflow_is_an_error() {
        assert!(hint("99999999999999999999s").contains("too long"));
        assert!(hint("18446744073709551615h").contains("too long"));
    }
}
