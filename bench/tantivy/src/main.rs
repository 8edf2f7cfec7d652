//! cs-bench-tantivy: the Tantivy peer (tantivy 0.24), set up the way its
//! documentation says for a bulk-built, read-mostly index: a Spanish
//! analyzer (SimpleTokenizer, RemoveLongFilter 40, LowerCaser, Spanish stop
//! words, Spanish Snowball stemmer) on the text with positions, BM25 (the
//! default), one indexing thread with a 512 MB budget and no merges while
//! loading, then every segment merged into one, top 10 with TopDocs (block
//! WAND; no exact count). Like Xapian's STEM_SOME, the words are also indexed
//! unstemmed (field "raw": lower case, frequencies only) for prefix and typo
//! queries; the turn id is stored; the text is not.
//!
//!   build --db DIR --turns TSV
//!       prints JSON: seconds (every add_document + commit), merge_seconds
//!       (the merge into one segment, timed separately and not counted, like
//!       FTS5's 'optimize'), text bytes, size of the directory.
//!   query --db DIR --queries FILE --stop FILE [--warmup N] [--passes N]
//!       [--max-seconds S] --out FILE
//!
//! Queries, built with the API (the same meaning as fts5.c / xapian.cc):
//!   term   the word analyzed (TermQuery; MUST of them if it yields more)
//!   and    MUST of each word's terms      or  SHOULD of them
//!   phrase PhraseQuery of the analyzed words at their positions
//!   prefix FuzzyTermQuery::new_prefix(raw, 0)   fuzzy FuzzyTermQuery(raw, 1)
//!   nl     SHOULD of the question's terms, the bench stop list added to
//!          the analyzer's (as Xapian's query-time stopper)
//! A word the analyzer drops (a stop word) is looked up on "raw".
use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::Instant;

use tantivy::collector::TopDocs;
use tantivy::query::{
    BooleanQuery, EmptyQuery, FuzzyTermQuery, Occur, PhraseQuery, Query, TermQuery,
};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, STORED,
};
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};
use tantivy::{doc, Index, IndexWriter, ReloadPolicy, TantivyDocument, Term};

fn spanish() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(StopWordFilter::new(Language::Spanish).unwrap())
        .filter(Stemmer::new(Language::Spanish))
        .build()
}

/// The Spanish analyzer with more stop words (questions).
fn spanish_more_stop(more: Vec<String>) -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(StopWordFilter::new(Language::Spanish).unwrap())
        .filter(StopWordFilter::remove(more))
        .filter(Stemmer::new(Language::Spanish))
        .build()
}

fn raw_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .build()
}

fn schema() -> (Schema, Field, Field, Field) {
    let mut b = Schema::builder();
    let id = b.add_u64_field("id", STORED);
    let text = b.add_text_field(
        "text",
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer("es")
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        ),
    );
    let raw = b.add_text_field(
        "raw",
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer("raw_lc")
                .set_index_option(IndexRecordOption::WithFreqs),
        ),
    );
    (b.build(), id, text, raw)
}

fn register(index: &Index) {
    let m = index.tokenizers();
    m.register("es", spanish());
    m.register("raw_lc", raw_analyzer());
}

/// COPY text format field unescaping.
fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('t') => out.push('\t'),
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some(o) => out.push(o),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn dir_bytes(p: &Path) -> u64 {
    fs::read_dir(p)
        .map(|rd| rd.filter_map(|e| e.ok()).filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
        .unwrap_or(0)
}

fn build(db: &str, turns: &str) -> tantivy::Result<()> {
    let dir = Path::new(db);
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir)?;
    let (schema, id, text, raw) = schema();
    let index = Index::create_in_dir(dir, schema)?;
    register(&index);
    let t0 = Instant::now();
    let mut w: IndexWriter = index.writer_with_num_threads(1, 512_000_000)?;
    w.set_merge_policy(Box::new(tantivy::indexer::NoMergePolicy));
    let f = BufReader::with_capacity(1 << 20, fs::File::open(turns)?);
    let (mut rows, mut bytes) = (0u64, 0u64);
    for line in f.lines() {
        let line = line?;
        let Some((k, v)) = line.split_once('\t') else { continue };
        let t = unescape(v);
        bytes += t.len() as u64;
        let k: u64 = k.parse().unwrap_or(0);
        w.add_document(doc!(id => k, text => t.as_str(), raw => t.as_str()))?;
        rows += 1;
    }
    w.commit()?;
    let secs = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let ids = index.searchable_segment_ids()?;
    if ids.len() > 1 {
        w.merge(&ids).wait()?;
    }
    w.wait_merging_threads()?;
    let merge = t1.elapsed().as_secs_f64();
    // Files of segments that were merged away are removed by the GC at the
    // next writer; run it so that the size is the one-segment index's.
    let w2: IndexWriter = index.writer_with_num_threads(1, 15_000_000)?;
    w2.garbage_collect_files().wait()?;
    drop(w2);
    println!(
        "{{\"engine\": \"tantivy\", \"rows\": {rows}, \"text_bytes\": {bytes}, \"seconds\": {secs:.3}, \
         \"merge_seconds\": {merge:.3}, \"size_bytes\": {}}}",
        dir_bytes(dir)
    );
    Ok(())
}

fn analyze(a: &mut TextAnalyzer, text: &str) -> Vec<(usize, String)> {
    let mut ts = a.token_stream(text);
    let mut out = Vec::new();
    while ts.advance() {
        let t = ts.token();
        out.push((t.position, t.text.clone()));
    }
    out
}

struct Q {
    es: TextAnalyzer,
    nl: TextAnalyzer,
    raw: TextAnalyzer,
    text: Field,
    rawf: Field,
}

impl Q {
    fn term(&self, f: Field, s: &str) -> Box<dyn Query> {
        Box::new(TermQuery::new(Term::from_field_text(f, s), IndexRecordOption::WithFreqs))
    }

    fn word(&mut self, w: &str) -> Box<dyn Query> {
        let ts = analyze(&mut self.es, w);
        if ts.is_empty() {
            return match analyze(&mut self.raw, w).first() {
                Some((_, r)) => self.term(self.rawf, r),
                None => Box::new(EmptyQuery),
            };
        }
        if ts.len() == 1 {
            return self.term(self.text, &ts[0].1);
        }
        Box::new(BooleanQuery::new(
            ts.iter().map(|(_, t)| (Occur::Must, self.term(self.text, t))).collect(),
        ))
    }

    fn build(&mut self, kind: &str, text: &str) -> Box<dyn Query> {
        if kind.starts_with("term") {
            return self.word(text);
        }
        match kind {
            "and" | "or" => {
                let o = if kind == "and" { Occur::Must } else { Occur::Should };
                let subs = text.split(' ').filter(|w| !w.is_empty()).map(|w| (o, self.word(w))).collect();
                Box::new(BooleanQuery::new(subs))
            }
            "phrase" => {
                let ts = analyze(&mut self.es, text);
                match ts.len() {
                    0 => Box::new(EmptyQuery),
                    1 => self.term(self.text, &ts[0].1),
                    _ => Box::new(PhraseQuery::new_with_offset(
                        ts.iter().map(|(p, t)| (*p, Term::from_field_text(self.text, t))).collect(),
                    )),
                }
            }
            "prefix" | "fuzzy" => match analyze(&mut self.raw, text).first() {
                None => Box::new(EmptyQuery),
                Some((_, r)) => {
                    let t = Term::from_field_text(self.rawf, r);
                    if kind == "prefix" {
                        Box::new(FuzzyTermQuery::new_prefix(t, 0, true))
                    } else {
                        Box::new(FuzzyTermQuery::new(t, 1, true))
                    }
                }
            },
            _ => {
                let mut seen = HashMap::new();
                let subs = analyze(&mut self.nl, text)
                    .into_iter()
                    .filter(|(_, t)| seen.insert(t.clone(), ()).is_none())
                    .map(|(_, t)| (Occur::Should, self.term(self.text, &t)))
                    .collect();
                Box::new(BooleanQuery::new(subs))
            }
        }
    }
}

fn query(db: &str, queries: &str, stop: &str, warmup: i32, passes: i32, max_s: f64, out: &str) -> tantivy::Result<()> {
    let qs: Vec<(String, String, String)> = fs::read_to_string(queries)?
        .lines()
        .filter_map(|l| {
            let mut p = l.splitn(3, '\t');
            Some((p.next()?.to_string(), p.next()?.to_string(), p.next()?.to_string()))
        })
        .collect();
    // The bench stop list, on top of the analyzer's.
    let mut words: Vec<String> = Vec::new();
    for l in fs::read_to_string(stop)?.lines().filter(|l| !l.starts_with('#')) {
        words.extend(l.split_whitespace().map(|s| s.to_string()));
    }
    let index = Index::open_in_dir(db)?;
    register(&index);
    let schema = index.schema();
    let id = schema.get_field("id")?;
    let mut q = Q {
        es: spanish(),
        nl: spanish_more_stop(words),
        raw: raw_analyzer(),
        text: schema.get_field("text")?,
        rawf: schema.get_field("raw")?,
    };
    let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
    let searcher = reader.searcher();
    let mut fo = std::io::BufWriter::new(fs::File::create(out)?);
    let top = TopDocs::with_limit(10);
    let mut t_start = Instant::now();
    for pass in (1 - warmup)..=passes {
        if pass > 1 && t_start.elapsed().as_secs_f64() > max_s {
            break;
        }
        for (qid, kind, text) in &qs {
            let t0 = Instant::now();
            let query = q.build(kind, text);
            let hits = searcher.search(&*query, &top)?;
            let mut ids = String::new();
            for (_, addr) in &hits {
                let d: TantivyDocument = searcher.doc(*addr)?;
                if !ids.is_empty() {
                    ids.push(',');
                }
                ids.push_str(&d.get_first(id).and_then(|v| v.as_u64()).unwrap_or(0).to_string());
            }
            let us = t0.elapsed().as_secs_f64() * 1e6;
            if pass > 0 {
                writeln!(fo, "{qid}\t{kind}\t{pass}\t{us:.1}\t{}\t-1\t{ids}", hits.len())?;
            }
        }
        if pass == 0 {
            t_start = Instant::now();
        }
    }
    fo.flush()?;
    Ok(())
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let mut opt: HashMap<&str, &str> = HashMap::new();
    let mut i = 2;
    while i + 1 < a.len() {
        opt.insert(a[i].trim_start_matches("--"), a[i + 1].as_str());
        i += 2;
    }
    let num = |k: &str, d: f64| opt.get(k).and_then(|v| v.parse::<f64>().ok()).unwrap_or(d);
    let cmd = a.get(1).map(|s| s.as_str()).unwrap_or("");
    let r = match (cmd, opt.get("db"), opt.get("turns"), opt.get("queries"), opt.get("stop"), opt.get("out")) {
        ("build", Some(db), Some(t), _, _, _) => build(db, t),
        ("query", Some(db), _, Some(qf), Some(sf), Some(of)) => query(
            db,
            qf,
            sf,
            num("warmup", 3.0) as i32,
            num("passes", 2.0) as i32,
            num("max-seconds", 120.0),
            of,
        ),
        _ => {
            eprintln!(
                "usage: cs-bench-tantivy build --db DIR --turns TSV\n       cs-bench-tantivy query --db DIR \
                 --queries FILE --stop FILE [--warmup N] [--passes N] [--max-seconds S] --out FILE"
            );
            std::process::exit(2);
        }
    };
    if let Err(e) = r {
        eprintln!("cs-bench-tantivy: {e}");
        std::process::exit(1);
    }
}
