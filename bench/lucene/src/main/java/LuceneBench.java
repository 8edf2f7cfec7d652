/*
 * cs-bench-lucene: the Lucene peer (lucene-core + lucene-analysis-common 9.12,
 * Java 17), set up the way Lucene's own documentation says for a bulk-built,
 * read-mostly index: SpanishAnalyzer (standard tokenizer, lower case, Spanish
 * stop words, Spanish light stemmer) on the text, BM25Similarity (the
 * default), a 256 MB indexing RAM buffer, one indexing thread, force-merged
 * to one segment after the bulk build, MMapDirectory, query cache off,
 * IndexSearcher.search(query, 10). Like Xapian's STEM_SOME, the words are
 * also indexed unstemmed (field "raw": standard tokenizer + lower case,
 * frequencies only) for prefix and typo queries; the turn id is a stored
 * field; the text is not stored.
 *
 *   build --db DIR --turns TSV
 *       prints JSON: seconds (every addDocument + commit), merge_seconds
 *       (forceMerge(1), timed separately and not counted, like FTS5's
 *       'optimize'), text bytes, size of the directory.
 *   query --db DIR --queries FILE --stop FILE [--warmup N] [--passes N]
 *       [--max-seconds S] --out FILE
 *       N warm-up passes (JIT; default 3) are not recorded; result lines as
 *       bench/common.h.
 *
 * Queries, built with the API (no query parser: the same meaning as
 * fts5.c / xapian.cc):
 *   term   the word analyzed (TermQuery; MUST of them if it yields more)
 *   and    MUST of each word's terms     or  SHOULD of them
 *   phrase PhraseQuery of the analyzed words at their positions
 *   prefix PrefixQuery on "raw"          fuzzy  FuzzyQuery(raw, maxEdits 1)
 *   nl     SHOULD of the question's terms, the bench stop list added to the
 *          analyzer's (as Xapian's query-time stopper)
 * A word the analyzer drops (a stop word of its list) is looked up on "raw".
 */
import java.io.BufferedReader;
import java.io.IOException;
import java.io.PrintStream;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.apache.lucene.analysis.Analyzer;
import org.apache.lucene.analysis.CharArraySet;
import org.apache.lucene.analysis.LowerCaseFilter;
import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.es.SpanishAnalyzer;
import org.apache.lucene.analysis.miscellaneous.PerFieldAnalyzerWrapper;
import org.apache.lucene.analysis.standard.StandardTokenizer;
import org.apache.lucene.analysis.tokenattributes.CharTermAttribute;
import org.apache.lucene.analysis.tokenattributes.PositionIncrementAttribute;
import org.apache.lucene.document.Document;
import org.apache.lucene.document.Field;
import org.apache.lucene.document.FieldType;
import org.apache.lucene.document.StoredField;
import org.apache.lucene.document.TextField;
import org.apache.lucene.index.DirectoryReader;
import org.apache.lucene.index.IndexOptions;
import org.apache.lucene.index.IndexWriter;
import org.apache.lucene.index.IndexWriterConfig;
import org.apache.lucene.index.StoredFields;
import org.apache.lucene.index.Term;
import org.apache.lucene.search.BooleanClause;
import org.apache.lucene.search.BooleanQuery;
import org.apache.lucene.search.FuzzyQuery;
import org.apache.lucene.search.IndexSearcher;
import org.apache.lucene.search.MatchNoDocsQuery;
import org.apache.lucene.search.PhraseQuery;
import org.apache.lucene.search.PrefixQuery;
import org.apache.lucene.search.Query;
import org.apache.lucene.search.ScoreDoc;
import org.apache.lucene.search.TermQuery;
import org.apache.lucene.search.TopDocs;
import org.apache.lucene.search.similarities.BM25Similarity;
import org.apache.lucene.store.FSDirectory;

public final class LuceneBench {
  private static Analyzer rawAnalyzer() {
    return new Analyzer() {
      @Override
      protected TokenStreamComponents createComponents(String field) {
        StandardTokenizer t = new StandardTokenizer();
        return new TokenStreamComponents(t, new LowerCaseFilter(t));
      }
    };
  }

  private static Analyzer indexAnalyzer() {
    Map<String, Analyzer> per = new HashMap<>();
    per.put("raw", rawAnalyzer());
    return new PerFieldAnalyzerWrapper(new SpanishAnalyzer(), per);
  }

  /* COPY text format field unescaping. */
  private static String unescape(String s) {
    if (s.indexOf('\\') < 0) return s;
    StringBuilder b = new StringBuilder(s.length());
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '\\' && i + 1 < s.length()) {
        char n = s.charAt(++i);
        b.append(n == 't' ? '\t' : n == 'n' ? '\n' : n == 'r' ? '\r' : n);
      } else {
        b.append(c);
      }
    }
    return b.toString();
  }

  private static long utf8Length(String s) {
    long n = 0;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c < 0x80) n += 1;
      else if (c < 0x800) n += 2;
      else if (Character.isHighSurrogate(c)) {
        n += 4;
        i++;
      } else n += 3;
    }
    return n;
  }

  private static long dirBytes(Path p) throws IOException {
    try (Stream<Path> s = Files.walk(p)) {
      return s.filter(Files::isRegularFile).mapToLong(f -> f.toFile().length()).sum();
    }
  }

  private static void deleteTree(Path p) throws IOException {
    if (!Files.exists(p)) return;
    try (Stream<Path> s = Files.walk(p)) {
      for (Path f : (Iterable<Path>) s.sorted((a, b) -> b.compareTo(a))::iterator) Files.delete(f);
    }
  }

  private static int build(String db, String turns) throws IOException {
    Path dir = Paths.get(db);
    deleteTree(dir);
    FieldType rawType = new FieldType();
    rawType.setTokenized(true);
    rawType.setIndexOptions(IndexOptions.DOCS_AND_FREQS);
    rawType.freeze();
    long rows = 0, bytes = 0;
    double t0 = System.nanoTime() / 1e9, t1, t2;
    try (FSDirectory d = FSDirectory.open(dir)) {
      IndexWriterConfig cfg = new IndexWriterConfig(indexAnalyzer());
      cfg.setOpenMode(IndexWriterConfig.OpenMode.CREATE);
      cfg.setRAMBufferSizeMB(256);
      cfg.setSimilarity(new BM25Similarity());
      try (IndexWriter w = new IndexWriter(d, cfg);
          BufferedReader r = Files.newBufferedReader(Paths.get(turns), StandardCharsets.UTF_8)) {
        /* One Document reused, as Lucene's docs recommend for bulk loads. */
        StoredField id = new StoredField("id", 0L);
        Field text = new TextField("text", "", Field.Store.NO);
        Field raw = new Field("raw", "", rawType);
        Document doc = new Document();
        doc.add(id);
        doc.add(text);
        doc.add(raw);
        String line;
        while ((line = r.readLine()) != null) {
          int tab = line.indexOf('\t');
          if (tab < 0) continue;
          String t = unescape(line.substring(tab + 1));
          bytes += utf8Length(t);
          id.setLongValue(Long.parseLong(line.substring(0, tab)));
          text.setStringValue(t);
          raw.setStringValue(t);
          w.addDocument(doc);
          rows++;
        }
        w.commit();
        t1 = System.nanoTime() / 1e9;
        w.forceMerge(1);
        w.commit();
        t2 = System.nanoTime() / 1e9;
      }
    }
    System.out.printf(
        "{\"engine\": \"lucene\", \"rows\": %d, \"text_bytes\": %d, \"seconds\": %.3f, "
            + "\"merge_seconds\": %.3f, \"size_bytes\": %d}%n",
        rows, bytes, t1 - t0, t2 - t1, dirBytes(dir));
    return 0;
  }

  /* Terms of text through analyzer a, with positions (pos[i] for term i). */
  private static List<String> analyze(Analyzer a, String field, String text, List<Integer> pos)
      throws IOException {
    List<String> out = new ArrayList<>();
    try (TokenStream ts = a.tokenStream(field, new StringReader(text))) {
      CharTermAttribute term = ts.addAttribute(CharTermAttribute.class);
      PositionIncrementAttribute inc = ts.addAttribute(PositionIncrementAttribute.class);
      ts.reset();
      int p = -1;
      while (ts.incrementToken()) {
        p += inc.getPositionIncrement();
        out.add(term.toString());
        if (pos != null) pos.add(p);
      }
      ts.end();
    }
    return out;
  }

  private static Analyzer es, nlEs, raw;

  /* One word's clause: its analyzed terms, or the raw word when the analyzer drops it. */
  private static Query word(String w) throws IOException {
    List<String> ts = analyze(es, "text", w, null);
    if (ts.isEmpty()) {
      List<String> r = analyze(raw, "raw", w, null);
      if (r.isEmpty()) return new MatchNoDocsQuery();
      return new TermQuery(new Term("raw", r.get(0)));
    }
    if (ts.size() == 1) return new TermQuery(new Term("text", ts.get(0)));
    BooleanQuery.Builder b = new BooleanQuery.Builder();
    for (String t : ts) b.add(new TermQuery(new Term("text", t)), BooleanClause.Occur.MUST);
    return b.build();
  }

  private static Query toQuery(String type, String text) throws IOException {
    if (type.startsWith("term")) return word(text);
    if (type.equals("and") || type.equals("or")) {
      BooleanClause.Occur o = type.equals("and") ? BooleanClause.Occur.MUST : BooleanClause.Occur.SHOULD;
      BooleanQuery.Builder b = new BooleanQuery.Builder();
      for (String w : text.trim().split(" +")) b.add(word(w), o);
      return b.build();
    }
    if (type.equals("phrase")) {
      List<Integer> pos = new ArrayList<>();
      List<String> ts = analyze(es, "text", text, pos);
      if (ts.isEmpty()) return new MatchNoDocsQuery();
      if (ts.size() == 1) return new TermQuery(new Term("text", ts.get(0)));
      PhraseQuery.Builder b = new PhraseQuery.Builder();
      for (int i = 0; i < ts.size(); i++) b.add(new Term("text", ts.get(i)), pos.get(i));
      return b.build();
    }
    if (type.equals("prefix") || type.equals("fuzzy")) {
      List<String> r = analyze(raw, "raw", text, null);
      if (r.isEmpty()) return new MatchNoDocsQuery();
      Term t = new Term("raw", r.get(0));
      return type.equals("prefix") ? new PrefixQuery(t) : new FuzzyQuery(t, 1);
    }
    /* nl */
    BooleanQuery.Builder b = new BooleanQuery.Builder();
    for (String t : new LinkedHashSet<>(analyze(nlEs, "text", text, null)))
      b.add(new TermQuery(new Term("text", t)), BooleanClause.Occur.SHOULD);
    return b.build();
  }

  private static int query(String db, String queries, String stopPath, int warmup, int passes,
      double maxS, String out) throws IOException {
    List<String[]> qs = new ArrayList<>();
    for (String line : Files.readAllLines(Paths.get(queries), StandardCharsets.UTF_8)) {
      String[] p = line.split("\t", 3);
      if (p.length == 3) qs.add(p);
    }
    CharArraySet stop = new CharArraySet(SpanishAnalyzer.getDefaultStopSet(), false);
    for (String line : Files.readAllLines(Paths.get(stopPath), StandardCharsets.UTF_8)) {
      if (line.startsWith("#")) continue;
      for (String w : line.trim().split("\\s+")) if (!w.isEmpty()) stop.add(w);
    }
    es = new SpanishAnalyzer();
    nlEs = new SpanishAnalyzer(stop);
    raw = rawAnalyzer();
    try (FSDirectory d = FSDirectory.open(Paths.get(db));
        DirectoryReader reader = DirectoryReader.open(d);
        PrintStream fo = new PrintStream(Files.newOutputStream(Paths.get(out)), false, "UTF-8")) {
      IndexSearcher s = new IndexSearcher(reader);
      s.setQueryCache(null);
      s.setSimilarity(new BM25Similarity());
      double tStart = System.nanoTime() / 1e3;
      for (int pass = 1 - warmup; pass <= passes; pass++) {
        if (pass > 1 && (System.nanoTime() / 1e3 - tStart) / 1e6 > maxS) break;
        for (String[] q : qs) {
          double t0 = System.nanoTime() / 1e3;
          Query query = toQuery(q[1], q[2]);
          TopDocs td = s.search(query, 10);
          StoredFields sf = s.storedFields();
          StringBuilder ids = new StringBuilder();
          for (ScoreDoc sd : td.scoreDocs) {
            if (ids.length() > 0) ids.append(',');
            ids.append(sf.document(sd.doc).getField("id").numericValue().longValue());
          }
          double us = System.nanoTime() / 1e3 - t0;
          if (pass > 0)
            fo.printf("%s\t%s\t%d\t%.1f\t%d\t%d\t%s%n", q[0], q[1], pass, us, td.scoreDocs.length,
                td.totalHits.value, ids);
        }
        if (pass == 0) tStart = System.nanoTime() / 1e3;
      }
    }
    return 0;
  }

  public static void main(String[] argv) throws IOException {
    String db = null, turns = null, queries = null, stop = null, out = null;
    int warmup = 3, passes = 2;
    double maxS = 120;
    for (int i = 1; i + 1 < argv.length; i += 2) {
      switch (argv[i]) {
        case "--db": db = argv[i + 1]; break;
        case "--turns": turns = argv[i + 1]; break;
        case "--queries": queries = argv[i + 1]; break;
        case "--stop": stop = argv[i + 1]; break;
        case "--out": out = argv[i + 1]; break;
        case "--warmup": warmup = Integer.parseInt(argv[i + 1]); break;
        case "--passes": passes = Integer.parseInt(argv[i + 1]); break;
        case "--max-seconds": maxS = Double.parseDouble(argv[i + 1]); break;
        default: break;
      }
    }
    if (argv.length >= 1 && argv[0].equals("build") && db != null && turns != null)
      System.exit(build(db, turns));
    if (argv.length >= 1 && argv[0].equals("query") && db != null && queries != null && stop != null
        && out != null)
      System.exit(query(db, queries, stop, warmup, passes, maxS, out));
    System.err.println("usage: cs-bench-lucene build --db DIR --turns TSV\n"
        + "       cs-bench-lucene query --db DIR --queries FILE --stop FILE [--warmup N] "
        + "[--passes N] [--max-seconds S] --out FILE");
    System.exit(2);
  }
}
