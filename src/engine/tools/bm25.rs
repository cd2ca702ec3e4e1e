//! BM25 ranking over text passages (Robertson & Zaragoza, "The Probabilistic Relevance
//! Framework: BM25 and Beyond", 2009), with Lucene's non-negative idf.
//!
//! The tokenizer keeps numbers whole (`388.1`, `2,340` -> `2340`) because questions over
//! reports are often about figures, lower-cases, drops a short list of English stop words
//! and folds plural `s` so that "revenues" finds "revenue".

use std::collections::HashMap;

const K1: f64 = 1.2;
/// Length normalisation, gentler than the usual 0.75: passages are chunks built to similar
/// sizes, so a strong length prior mostly rewards short stubs (a section of one sentence)
/// over the paragraph that holds the answer.
const B: f64 = 0.5;

const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "did", "do", "does", "for", "from", "had",
    "has", "have", "how", "in", "into", "is", "it", "its", "of", "on", "or", "that", "the",
    "their", "there", "these", "this", "to", "was", "were", "what", "when", "where", "which",
    "who", "why", "will", "with",
];

/// One token with its byte range in the source text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub term: String,
    pub start: usize,
    pub end: usize,
}

/// Split text into search terms.
pub(crate) fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].1.is_alphanumeric() {
            i += 1;
            continue;
        }
        let start = i;
        let mut j = i;
        loop {
            while j < chars.len() && chars[j].1.is_alphanumeric() {
                j += 1;
            }
            // A '.' or ',' between two digits is part of a number.
            let joins = j + 1 < chars.len()
                && matches!(chars[j].1, '.' | ',')
                && chars[j - 1].1.is_ascii_digit()
                && chars[j + 1].1.is_ascii_digit();
            if !joins {
                break;
            }
            j += 1;
        }
        let start_byte = chars[start].0;
        let end_byte = chars.get(j).map_or(text.len(), |c| c.0);
        if let Some(term) = normalize_term(&text[start_byte..end_byte]) {
            tokens.push(Token {
                term,
                start: start_byte,
                end: end_byte,
            });
        }
        i = j;
    }
    tokens
}

fn normalize_term(raw: &str) -> Option<String> {
    let lower = raw.to_lowercase();
    if STOP_WORDS.contains(&lower.as_str()) {
        return None;
    }
    if lower.starts_with(|c: char| c.is_ascii_digit()) {
        // Thousands separators do not change a number; a decimal point does.
        return Some(lower.replace(',', ""));
    }
    let stemmed = if lower.len() > 3
        && lower.ends_with('s')
        && !lower.ends_with("ss")
        && !lower.ends_with("us")
        && !lower.ends_with("is")
    {
        let base = &lower[..lower.len() - 1];
        base.strip_suffix("ie")
            .map_or(base.to_string(), |b| format!("{b}y"))
    } else {
        lower
    };
    Some(stemmed)
}

/// An inverted index over passages, which are numbered in the order they were added.
#[derive(Debug, Default)]
pub(crate) struct Index {
    /// term -> (passage, term frequency), passages ascending.
    postings: HashMap<String, Vec<(u32, u32)>>,
    lengths: Vec<u32>,
    total_length: u64,
}

impl Index {
    /// Add a passage made of `texts` (for example a section title and its body); returns
    /// its number.
    pub fn add(&mut self, texts: &[&str]) -> usize {
        let id = self.lengths.len() as u32;
        let mut counts: HashMap<String, u32> = HashMap::new();
        let mut length = 0u32;
        for text in texts {
            for token in tokenize(text) {
                *counts.entry(token.term).or_default() += 1;
                length += 1;
            }
        }
        for (term, tf) in counts {
            self.postings.entry(term).or_default().push((id, tf));
        }
        self.lengths.push(length);
        self.total_length += u64::from(length);
        id as usize
    }

    pub fn len(&self) -> usize {
        self.lengths.len()
    }

    fn idf(&self, docs_with_term: usize) -> f64 {
        let n = self.len() as f64;
        let df = docs_with_term as f64;
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
    }

    /// The `limit` best passages for `query`, best first, as (passage, score). Passages with
    /// no query term are never returned; ties keep passage order.
    pub fn search(&self, query: &str, limit: usize) -> Vec<(usize, f64)> {
        if self.lengths.is_empty() {
            return Vec::new();
        }
        let avg = self.total_length as f64 / self.len() as f64;
        let mut terms: Vec<String> = tokenize(query).into_iter().map(|t| t.term).collect();
        terms.sort();
        terms.dedup();
        let mut scores: HashMap<u32, f64> = HashMap::new();
        for term in &terms {
            let Some(postings) = self.postings.get(term) else {
                continue;
            };
            let idf = self.idf(postings.len());
            for &(id, tf) in postings {
                let tf = f64::from(tf);
                let norm = 1.0 - B + B * f64::from(self.lengths[id as usize]) / avg.max(1.0);
                *scores.entry(id).or_default() += idf * tf * (K1 + 1.0) / (tf + K1 * norm);
            }
        }
        let mut ranked: Vec<(usize, f64)> =
            scores.into_iter().map(|(id, s)| (id as usize, s)).collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.truncate(limit);
        ranked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str) -> Vec<String> {
        tokenize(text).into_iter().map(|t| t.term).collect()
    }

    #[test]
    fn tokenizer_keeps_numbers_and_folds_plurals() {
        assert_eq!(
            terms("The revenues were $388.1 million; 2,340 employees."),
            vec!["revenue", "388.1", "million", "2340", "employee"]
        );
        assert_eq!(
            terms("companies' business status"),
            vec!["company", "business", "status"]
        );
        assert_eq!(terms("end. 5"), vec!["end", "5"]);
    }

    #[test]
    fn token_offsets_point_into_the_text() {
        let text = "Umsatz €12,5 Mio";
        for t in tokenize(text) {
            assert_eq!(text[t.start..t.end].to_lowercase().replace(',', ""), t.term);
        }
    }

    #[test]
    fn rarer_terms_weigh_more() {
        let mut index = Index::default();
        index.add(&["revenue grew in 2024"]);
        index.add(&["revenue fell in 2023"]);
        index.add(&["margin widened in 2024 with revenue flat"]);
        // "margin" appears once in the collection, "revenue" everywhere.
        let hits = index.search("margin revenue", 3);
        assert_eq!(hits[0].0, 2);
        assert!(index.idf(1) > index.idf(3));
        assert!(index.idf(3) > 0.0);
    }

    #[test]
    fn shorter_passages_win_at_equal_term_frequency() {
        let mut index = Index::default();
        index.add(&["acme revenue", ""]);
        index.add(&["acme revenue plus a long tail of other unrelated words here"]);
        let hits = index.search("acme", 2);
        assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), vec![0, 1]);
        assert!(hits[0].1 > hits[1].1);
    }

    #[test]
    fn term_frequency_saturates() {
        let mut index = Index::default();
        index.add(&["globex globex globex globex globex globex globex globex"]);
        index.add(&["globex other"]);
        index.add(&["unrelated"]);
        let hits = index.search("globex", 3);
        assert_eq!(hits.len(), 2);
        // Eight occurrences score less than (K1 + 1) times one occurrence.
        assert!(hits[0].1 / hits[1].1 < K1 + 1.0);
    }

    #[test]
    fn queries_without_known_terms_find_nothing() {
        let mut index = Index::default();
        index.add(&["something"]);
        assert!(index.search("the of and", 5).is_empty());
        assert!(index.search("nothing", 5).is_empty());
        assert!(Index::default().search("x", 5).is_empty());
    }
}
