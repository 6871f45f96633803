//! The three answers a person can give about a pair.

use std::fmt;
use std::str::FromStr;

/// One person's answer to "are these two images the same?".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Both images show the same kind of thing.
    Same,
    /// The images show different kinds of things.
    Different,
    /// The person could not tell; the answer is logged but changes nothing.
    NotSure,
}

impl Verdict {
    /// Every verdict, in a stable order.
    pub const ALL: [Verdict; 3] = [Verdict::Same, Verdict::Different, Verdict::NotSure];

    /// The wire and database spelling: `same`, `different` or `not_sure`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::Same => "same",
            Verdict::Different => "different",
            Verdict::NotSure => "not_sure",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not one of the spellings of [`Verdict::as_str`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown verdict {input:?}: expected \"same\", \"different\" or \"not_sure\"")]
pub struct ParseVerdictError {
    /// The string that was given.
    pub input: String,
}

impl FromStr for Verdict {
    type Err = ParseVerdictError;

    /// Parses the exact spellings of [`Verdict::as_str`].
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        Verdict::ALL
            .into_iter()
            .find(|verdict| verdict.as_str() == input)
            .ok_or_else(|| ParseVerdictError {
                input: input.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_verdict_parses_back_from_its_spelling() {
        let spellings = Verdict::ALL.map(|verdict| verdict.as_str());

        let parsed: Vec<Verdict> = spellings
            .iter()
            .map(|s| s.parse().expect("known"))
            .collect();

        assert_eq!(spellings, ["same", "different", "not_sure"]);
        assert_eq!(parsed, Verdict::ALL);
    }

    #[test]
    fn an_unknown_spelling_is_refused_with_the_accepted_ones() {
        let error = "maybe".parse::<Verdict>().expect_err("not a verdict");

        assert_eq!(error.input, "maybe");
        assert!(error.to_string().contains("not_sure"), "{error}");
    }
}
