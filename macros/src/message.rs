//! The wording shared by error messages: lists of names, and "did you mean"
//! for a misspelled one.

/// `a`, `a or b`, `a, b or c` (with `and` or `or`).
pub(crate) fn list(items: impl IntoIterator<Item = String>, conjunction: &str) -> String {
    let items: Vec<String> = items.into_iter().collect();
    match items.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} {conjunction} {last}", init.join(", ")),
    }
}

/// `; did you mean `x`?` for a suggestion from [`nearest`], or nothing.
pub(crate) fn did_you_mean(near: Option<&str>) -> String {
    near.map_or_else(String::new, |near| format!("; did you mean `{near}`?"))
}

/// The candidate closest to `name`, if any is close: equal but for case and
/// underscores, containing it or contained in it, or within an edit distance
/// of a third of the longer name.
pub(crate) fn nearest<'c>(
    name: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let wanted = normalize(name);
    candidates
        .into_iter()
        .filter_map(|candidate| {
            let normalized = normalize(candidate);
            let distance = distance(&wanted, &normalized);
            let longest = wanted.chars().count().max(normalized.chars().count());
            let close = distance <= (longest / 3).max(1)
                || (wanted.chars().count() >= 2
                    && (normalized.contains(&wanted) || wanted.contains(&normalized)));
            close.then_some((distance, candidate))
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

fn normalize(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Edit distance in characters, counting a swap of neighbours as one edit
/// (optimal string alignment), since `nmae` is a typo of `name`.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // rows[i][j]: distance between the first i chars of a and the first j of b.
    let mut rows = vec![vec![0; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_read_as_english() {
        let words = |items: &[&str]| items.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>();
        assert_eq!(list(words(&[]), "and"), "");
        assert_eq!(list(words(&["a"]), "and"), "`a`");
        assert_eq!(list(words(&["a", "b"]), "or"), "`a` or `b`");
        assert_eq!(list(words(&["a", "b", "c"]), "and"), "`a`, `b` and `c`");
    }

    #[test]
    fn distance_counts_edits() {
        assert_eq!(distance("", ""), 0);
        assert_eq!(distance("org", "org"), 0);
        assert_eq!(distance("org", "orgs"), 1);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("nmae", "name"), 1);
        assert_eq!(distance("", "abc"), 3);
    }

    #[test]
    fn suggests_close_names() {
        let fields = ["id", "org_id", "name"];
        assert_eq!(nearest("orgid", fields), Some("org_id"));
        assert_eq!(nearest("org_idd", fields), Some("org_id"));
        assert_eq!(nearest("org", fields), Some("org_id"));
        assert_eq!(nearest("OrgId", fields), Some("org_id"));
        assert_eq!(nearest("nmae", fields), Some("name"));
        assert_eq!(nearest("pth", ["path", "reload", "crate"]), Some("path"));
    }

    #[test]
    fn suggests_nothing_far_away() {
        assert_eq!(nearest("owner", ["id", "org_id", "name"]), None);
        assert_eq!(nearest("x", ["id", "org_id", "name"]), None);
        assert_eq!(nearest("anything", Vec::<&str>::new()), None);
    }
}
