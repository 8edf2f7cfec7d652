/*
 * The postings and record codecs: random round trips, and corrupted or
 * random bytes that must yield CS_ECORRUPT (or a valid decode), never a
 * crash or an out-of-bounds read (run under ASan in the sanitizer build).
 */
#include "errors.h"
#include "analyzer.h"
#include "postings.h"
#include "records.h"
#include "textpack.h"
#include "tmarks.h"
#include "turnblock.h"
#include "passblock.h"
#include "varint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"

CS_CHECK_COUNTERS;

static uint32_t rnd(uint32_t n) {
  return (uint32_t)rand() % n;
}

static void random_list(cs_plist *l, uint32_t ndocs) {
  uint32_t d = 1 + rnd(1000), pos[64];
  for (uint32_t i = 0; i < ndocs; i++) {
    uint32_t tf = 1 + rnd(rnd(10) == 0 ? 60 : 4), p = rnd(5);
    for (uint32_t k = 0; k < tf; k++) {
      pos[k] = p;
      p += 1 + rnd(rnd(5) == 0 ? 1000 : 3);
    }
    cs_plist_add(l, d, tf + rnd(100), pos, tf);
    d += 1 + rnd(rnd(10) == 0 ? 100000 : 3);
  }
}

static void round_trip(void) {
  for (int iter = 0; iter < 300; iter++) {
    cs_plist l;
    cs_plist_init(&l);
    random_list(&l, 1 + rnd(400));
    size_t pos_at = 0;
    int ok = 1;
    for (uint32_t from = 0; from < l.n && ok; from += CS_CHUNK_DOCS) {
      uint32_t count = l.n - from < CS_CHUNK_DOCS ? l.n - from : CS_CHUNK_DOCS;
      uint8_t *buf;
      size_t len;
      ok = cs_chunk_encode(&l, from, count, NULL, &buf, &len) == 0;
      cs_chunk c;
      ok = ok && cs_chunk_decode(buf, len, l.docid[from], &c) == 0 && c.n == count;
      uint32_t last, n, mt, ml;
      ok = ok && cs_chunk_peek(buf, len, l.docid[from], &last, &n, &mt, &ml) == 0 &&
           last == l.docid[from + count - 1] && n == count;
      /* Positions read out of order: forwards, then back to the start. */
      for (uint32_t pass = 0; pass < 2 && ok; pass++) {
        size_t p = pos_at;
        for (uint32_t i = 0; i < count && ok; i++) {
          uint32_t out[64];
          ok = c.docid[i] == l.docid[from + i] && c.tf[i] == l.tf[from + i] &&
               c.len[i] == l.len[from + i] && cs_chunk_positions(&c, i, out, 64) == 0 &&
               memcmp(out, l.pos + p, c.tf[i] * sizeof *out) == 0;
          p += c.tf[i];
        }
        if (pass == 1) pos_at = p;
      }
      free(buf);
    }
    CHECK(ok, "round trip of a random list (iteration %d)", iter);
    cs_plist_free(&l);
  }
}

static void remove_docs(void) {
  cs_plist l;
  cs_plist_init(&l);
  uint32_t pos[3] = {1, 5, 9};
  for (uint32_t d = 10; d < 20; d++)
    cs_plist_add(&l, d, 20, pos, 1 + d % 3);
  CHECK(cs_plist_remove(&l, 13) == 1 && l.n == 9, "remove a present doc");
  CHECK(cs_plist_remove(&l, 13) == 0 && l.n == 9, "removing it again changes nothing");
  CHECK(cs_plist_remove(&l, 99) == 0, "remove an absent doc");
  size_t npos = 0;
  for (uint32_t i = 0; i < l.n; i++)
    npos += l.tf[i];
  CHECK(npos == l.npos, "positions stay consistent after a removal");
  CHECK(cs_plist_add(&l, 15, 3, pos, 1) == CS_EINVAL, "docids must increase");
  cs_plist_free(&l);
}

/* Decodes a chunk and reads every position: 0 when all of it decodes, else
 * the first error. *c holds the documents. */
static int decode_all(const uint8_t *buf, size_t len, uint32_t first, cs_chunk *c) {
  int rc = cs_chunk_decode(buf, len, first, c);
  uint32_t out[4096];
  for (uint32_t i = 0; rc == 0 && i < c->n; i++) {
    rc = cs_chunk_positions(c, i, out, 4096);
    if (rc == CS_ELIMIT) rc = 0;
  }
  return rc;
}

static int same_docs(const cs_chunk *c, const cs_plist *l) {
  if (c->n != l->n) return 0;
  for (uint32_t i = 0; i < c->n; i++)
    if (c->docid[i] != l->docid[i] || c->tf[i] != l->tf[i] || c->len[i] != l->len[i]) return 0;
  return 1;
}

/* A copy of buf[0..len) in a buffer exactly that long: ASan sees any read
 * past it. */
static uint8_t *exact_copy(const uint8_t *buf, size_t len) {
  uint8_t *p = malloc(len);
  memcpy(p, buf, len);
  return p;
}

/* Where a chunk's docs section starts (after its five header varints; no
 * conversation bound). */
static size_t docs_at(const uint8_t *buf, size_t len) {
  const uint8_t *p = buf;
  uint64_t v;
  for (int k = 0; k < 5; k++)
    cs_varint_get(&p, buf + len, &v);
  return (size_t)(p - buf);
}

/* Format 10's packed docid deltas and lengths, at every width from 0 to 32
 * bits, read the fast way (a chunk with 8 bytes of room after its fields)
 * and the careful way (a chunk that ends fewer bytes after them); damaged
 * fields are refused. */
static void packed_fields(void) {
  int wrong[2] = {0, 0}, widths = 0;
  for (unsigned w = 0; w <= 32; w++) {
    for (int careful = 0; careful < 2; careful++) {
      cs_plist l;
      cs_plist_init(&l);
      /* Width 0: one document (no delta, one length). */
      uint32_t n = w == 0 ? 1 : careful ? 3 : 40, tf = careful ? 1 : 8;
      uint32_t pos[8] = {0, 1, 2, 3, 4, 5, 6, 7};
      uint32_t big = (uint32_t)((1ull << w) - 1);
      uint32_t dmax = big < UINT32_MAX - 2 * n ? big : UINT32_MAX - 2 * n;
      uint32_t d = 1;
      for (uint32_t i = 0; i < n; i++) {
        /* Lengths 8 and 8 + big (at 32 bits: 8 and UINT32_MAX). */
        uint32_t len = i == n / 2 ? (w == 32 ? UINT32_MAX : 8 + big) : 8;
        cs_plist_add(&l, d, len, pos, tf);
        d += i + 1 == n / 2 ? dmax : 1;
      }
      uint8_t *buf;
      size_t len;
      cs_chunk_encode(&l, 0, l.n, NULL, &buf, &len);
      uint8_t *exact = exact_copy(buf, len);
      size_t at = docs_at(exact, len);
      widths += exact[at] == (n > 1 ? w : 0) && exact[at + 1] == w;
      cs_chunk c;
      if (decode_all(exact, len, 1, &c) != 0 || !same_docs(&c, &l)) wrong[careful]++;
      free(exact);
      free(buf);
      cs_plist_free(&l);
    }
  }
  CHECK(wrong[0] == 0, "docids and lengths of every width read back the fast way (%d wrong)",
        wrong[0]);
  CHECK(wrong[1] == 0, "and the careful way, near the chunk's end (%d wrong)", wrong[1]);
  CHECK(widths == 66, "each chunk packs its fields in the bits they need (%d of 66)", widths);

  /* The edge of the fast reads: one document whose length field (0 bits)
   * starts at the fields' end, with 7 bytes after it (careful) and 8 (fast),
   * in buffers exactly that long; and several documents of one length. */
  int edge = 1;
  for (uint32_t tf = 5; tf <= 6; tf++) {
    for (uint32_t n = 1; n <= 3; n += 2) {
      cs_plist l;
      cs_plist_init(&l);
      uint32_t pos[6] = {0, 1, 2, 3, 4, 5};
      for (uint32_t i = 0; i < n; i++)
        cs_plist_add(&l, 7 + i, 9, pos, tf);
      uint8_t *buf, *exact;
      size_t len;
      cs_chunk_encode(&l, 0, l.n, NULL, &buf, &len);
      exact = exact_copy(buf, len);
      cs_chunk c;
      edge &= exact[docs_at(exact, len) + 1] == 0 && decode_all(exact, len, 7, &c) == 0 &&
              same_docs(&c, &l);
      free(exact);
      free(buf);
      cs_plist_free(&l);
    }
  }
  CHECK(edge, "lengths of 0 bits read back with 7 and 8 bytes after them");

  /* Damage, read the careful way (tf 1: 4 bytes after the fields) and the
   * fast way (tf 8): documents 10, 11, 13 of lengths 8, 9, 8: deltas 1 and
   * 2 (2 bits each), lengths above 8 of 0, 1, 0 (1 bit each): 7 bits, one
   * byte, its high bit padding. */
  static const struct {
    size_t off;
    uint8_t to;
    const char *what;
  } damage[] = {
      {1, 33, "a length width above 32"},
      {2, 1 | 2 << 2 | 1 << 5 | 0x80, "a padding bit set"},
      {2, 0 | 3 << 2 | 1 << 5, "a docid delta of 0"},
      {2, 1 | 1 << 2 | 1 << 5, "deltas that do not reach the last docid"},
      {0, 0, "no bits for the deltas of three documents"},
  };
  for (uint32_t tf = 1; tf <= 8; tf += 7) {
    const char *way = tf == 1 ? "the careful way" : "the fast way";
    cs_plist l;
    cs_plist_init(&l);
    uint32_t pos[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    cs_plist_add(&l, 10, 8, pos, tf);
    cs_plist_add(&l, 11, 9, pos, tf);
    cs_plist_add(&l, 13, 8, pos, tf);
    uint8_t *buf;
    size_t len;
    cs_chunk_encode(&l, 0, l.n, NULL, &buf, &len);
    size_t at = docs_at(buf, len);
    cs_chunk c;
    CHECK(buf[at] == 2 && buf[at + 1] == 1 && buf[at + 2] == (1 | 2 << 2 | 1 << 5) &&
              decode_all(buf, len, 10, &c) == 0 && same_docs(&c, &l),
          "three documents pack into one byte, as the grammar says (%s)", way);
    for (size_t k = 0; k < sizeof damage / sizeof *damage; k++) {
      uint8_t *bad = exact_copy(buf, len);
      bad[at + damage[k].off] = damage[k].to;
      CHECK(cs_chunk_decode(bad, len, 10, &c) == CS_ECORRUPT, "%s is refused (%s)", damage[k].what,
            way);
      free(bad);
    }
    free(buf);

    /* A docid width above 32 where it changes no size (one document, no
     * delta): refused before any field is read with it. */
    cs_plist_clear(&l);
    cs_plist_add(&l, 5, 8, pos, tf);
    cs_chunk_encode(&l, 0, l.n, NULL, &buf, &len);
    at = docs_at(buf, len);
    buf[at] = 33;
    CHECK(cs_chunk_decode(buf, len, 5, &c) == CS_ECORRUPT, "a docid width above 32 is refused (%s)",
          way);
    free(buf);
    /* A length above the chunk's least that wraps past 2^32 - 1. */
    cs_plist_clear(&l);
    cs_plist_add(&l, 5, 1, pos, 1);
    cs_plist_add(&l, 6, UINT32_MAX, pos, 1);
    if (tf > 1) cs_plist_add(&l, 7, 8, pos, tf); /* room for the fast way */
    cs_chunk_encode(&l, 0, l.n, NULL, &buf, &len);
    at = docs_at(buf, len);
    /* wd 1 (deltas of 1), wl 32: the second length's field, after the
     * deltas and the first length, made all ones: 1 + 2^32 - 1 wraps to 0,
     * which only the wrap check sees (a tf of 1 is not checked against its
     * length). */
    int as_grammar =
        buf[at] == 1 && buf[at + 1] == 32 && decode_all(buf, len, 5, &c) == 0 && same_docs(&c, &l);
    for (size_t b = l.n - 1 + 32; b < l.n - 1 + 64; b++)
      buf[at + 2 + b / 8] |= (uint8_t)(1u << (b % 8));
    CHECK(as_grammar && cs_chunk_decode(buf, len, 5, &c) == CS_ECORRUPT,
          "a length that wraps past 2^32 - 1 is refused (%s)", way);
    free(buf);
    cs_plist_free(&l);
  }
}

/* Conversation bounds (cbound.h): every conversation's score (its best
 * three document values, weighted) is below the bound, which a chunk
 * carries through encoding; a merge moves an old bound to new averages. */
static void conversation_bounds(void) {
  int held = 1, tight = 1;
  for (int iter = 0; iter < 200; iter++) {
    uint32_t n = 1 + rnd(CS_CHUNK_DOCS), conv[CS_CHUNK_DOCS], tf[CS_CHUNK_DOCS], len[CS_CHUNK_DOCS];
    uint8_t kind[CS_CHUNK_DOCS];
    uint32_t avg[CS_CB_KINDS] = {0, 16 + rnd(1200), 16 + rnd(120), 16 + rnd(500)}, c = 0;
    for (uint32_t i = 0; i < n; i++) {
      c += rnd(4) == 0;
      conv[i] = c;
      kind[i] = (uint8_t)(1 + rnd(3));
      tf[i] = 1 + rnd(rnd(8) == 0 ? 20 : 3);
      len[i] = tf[i] + rnd(120);
    }
    cs_cbound b;
    if (cs_cbound_build(kind, conv, tf, len, n, avg, &b)) {
      held = 0;
      continue;
    }
    double best = 0;
    for (uint32_t i = 0; i < n;) {
      double top[3] = {0, 0, 0};
      uint32_t j = i;
      for (; j < n && conv[j] == conv[i]; j++) {
        double v = cs_cbound_doc(kind[j], tf[j], len[j], avg[kind[j]]);
        for (int t = 0; t < 3; t++) {
          if (v > top[t]) {
            double x = top[t];
            top[t] = v;
            v = x;
          }
        }
      }
      double score = top[0] + CS_CB_S2 * top[1] + CS_CB_S3 * top[2];
      if (score > best) best = score;
      i = j;
    }
    held &= b.c / CS_CB_UNIT >= best;
    tight &= b.c / CS_CB_UNIT <= best + 1.0 / CS_CB_UNIT;
  }
  CHECK(held, "a chunk's bound is at least every conversation's score");
  CHECK(tight, "and within a unit of the best one");

  /* Two conversations: the bound is the better one's, not their sum. */
  uint8_t kind[4] = {CS_DOC_TURN, CS_DOC_TURN, CS_DOC_TURN, CS_DOC_TURN};
  uint32_t conv[4] = {7, 7, 9, 9}, tf[4] = {1, 1, 2, 1}, len[4] = {10, 10, 10, 10};
  uint32_t avg[CS_CB_KINDS] = {0, 160, 0, 0};
  cs_cbound b;
  double one = cs_cbound_doc(CS_DOC_TURN, 1, 10, 160), two = cs_cbound_doc(CS_DOC_TURN, 2, 10, 160);
  double want = two + CS_CB_S2 * one;
  CHECK(cs_cbound_build(kind, conv, tf, len, 4, avg, &b) == 0 && b.avg[CS_DOC_TURN] == 160 &&
            !b.avg[CS_DOC_TITLE] && b.c / CS_CB_UNIT >= want &&
            b.c / CS_CB_UNIT < want + 1.0 / CS_CB_UNIT,
        "two conversations of two documents: the better conversation's score");
  kind[3] = CS_DOC_NAME;
  CHECK(cs_cbound_build(kind, conv, tf, len, 4, avg, &b) == -1, "a name has no bound");
  kind[3] = CS_DOC_TURN;

  /* Through a chunk, and moved to other averages. */
  cs_plist l;
  cs_plist_init(&l);
  uint32_t pos[1] = {3};
  for (uint32_t i = 0; i < 4; i++)
    cs_plist_add(&l, 100 + i, 10, pos, 1);
  cs_cbound_build(kind, conv, tf, len, 4, avg, &b);
  uint8_t *buf = NULL;
  size_t blen = 0;
  cs_chunk c;
  int has = 0;
  cs_cbound pb, none = {{0, 0, 0, 0}, 9};
  uint32_t last, mt, ml;
  CHECK(cs_chunk_encode(&l, 0, 4, &b, &buf, &blen) == 0 && decode_all(buf, blen, 100, &c) == 0 &&
            same_docs(&c, &l) && c.has_cb && memcmp(&c.cb, &b, sizeof b) == 0 &&
            cs_chunk_peek_cb(buf, blen, 100, &last, &mt, &ml, &has, &pb) == 0 && mt == 1 &&
            ml == 10 && has && last == 103 && memcmp(&pb, &b, sizeof b) == 0,
        "a chunk keeps its bound, and its header gives it");
  free(buf);
  CHECK(cs_chunk_encode(&l, 0, 4, &none, &buf, &blen) == 0 && decode_all(buf, blen, 100, &c) == 0 &&
            !c.has_cb,
        "a bound of no kind is left out");
  free(buf);
  cs_plist_free(&l);
  double avgdl[CS_DOC_KINDS] = {0, 15, 3, 100, 0, 0};
  CHECK(cs_cbound_scale(&b, avgdl) == 1.5, "a longer average: the bound scales by the ratio");
  avgdl[CS_DOC_TURN] = 5;
  CHECK(cs_cbound_scale(&b, avgdl) == 1.0, "a shorter one leaves it");
  cs_cbound into = {{0, 320, 0, 0}, 1}, old = b;
  uint32_t now[CS_CB_KINDS] = {0, 320, 64, 144};
  cs_cbound_merge(&into, &old, now);
  CHECK(into.c >= 2 * old.c - 1 && into.c <= 2 * old.c + 1 && into.avg[CS_DOC_TURN] == 320 &&
            !into.avg[CS_DOC_TITLE],
        "merged at twice the average: the old bound doubled");
}

/* A turn stored as a block of its own (turnblock.h), and read back. */
static uint8_t tkey[12];
static void t_encode(cs_buf *b, const cs_turn *t, cs_textpack *z) {
  cs_tblock_b tb;
  cs_tblock_b_init(&tb, 1);
  cs_tblock_b_add(&tb, t);
  cs_tblock_b_encode(&tb, z, tkey, b);
  cs_tblock_b_free(&tb);
}
typedef struct tdec {
  cs_tblock_it it;
  cs_turn t;
} tdec;
/* The block's turn, its text still packed when it.packed.p. */
static int t_decode(const void *p, size_t n, tdec *d) {
  int rc = cs_tblock_begin(&d->it, (cs_slice){tkey, 12}, (cs_slice){p, n});
  cs_tblock_it copy = d->it;
  return rc ? rc : cs_tblock_next(&copy, &d->t);
}
/* Bytes the block's text takes (compressed or not). */
static size_t packed_len(const cs_buf *b) {
  tdec d;
  if (t_decode(b->p, b->len, &d)) return SIZE_MAX / 4;
  return d.it.packed.p ? d.it.packed.len : d.it.text.len;
}
/* Its text readable, and the block read to its end. */
static int t_text(tdec *d, cs_buf *scratch) {
  int rc = cs_tblock_texts(&d->it, scratch);
  if (!rc) rc = cs_tblock_next(&d->it, &d->t);
  cs_turn x;
  if (!rc) rc = cs_tblock_next(&d->it, &x) == CS_ENOTFOUND ? 0 : CS_ECORRUPT;
  return rc;
}

static void corruption(void) {
  int crashes_would_show_under_asan = 0, undetected[3] = {0, 0, 0}, wrong = 0;
  for (int iter = 0; iter < 20000; iter++) {
    cs_plist l;
    cs_plist_init(&l);
    random_list(&l, 1 + rnd(CS_CHUNK_DOCS));
    uint8_t *buf;
    size_t len;
    cs_chunk_encode(&l, 0, l.n, NULL, &buf, &len);
    /* Flip bytes, truncate, or extend with garbage. The buffer is exactly
     * as long as the bytes given to the decoder, so ASan sees any read past
     * them. */
    int mode = iter % 3;
    if (mode == 0) {
      for (int k = 0; k < 1 + (int)rnd(4); k++)
        buf[rnd((uint32_t)len)] ^= (uint8_t)(1 + rnd(255));
    } else if (mode == 1) {
      len = rnd((uint32_t)len);
      uint8_t *cut = malloc(len ? len : 1);
      memcpy(cut, buf, len);
      free(buf);
      buf = cut;
    } else {
      size_t extra = 1 + rnd(16);
      uint8_t *longer = malloc(len + extra);
      memcpy(longer, buf, len);
      for (size_t k = 0; k < extra; k++)
        longer[len + k] = (uint8_t)rnd(256);
      free(buf);
      buf = longer;
      len += extra;
    }
    cs_chunk c;
    int rc = decode_all(buf, len, l.docid[0], &c);
    if (rc == 0) {
      for (uint32_t i = 1; i < c.n; i++) {
        if (c.docid[i] <= c.docid[i - 1]) crashes_would_show_under_asan++;
      }
      /* A cut or extended chunk is never taken for postings. */
      if (mode != 0) undetected[mode]++;
      if (mode != 0 && !same_docs(&c, &l)) wrong++;
    } else if (rc != CS_ECORRUPT) {
      crashes_would_show_under_asan++;
    }
    free(buf);
    cs_plist_free(&l);
  }
  CHECK(crashes_would_show_under_asan == 0, "corrupt chunks decode to valid lists or CS_ECORRUPT");
  CHECK(undetected[1] == 0, "every truncated chunk is CS_ECORRUPT (%d decoded)", undetected[1]);
  CHECK(undetected[2] == 0, "every chunk extended with garbage is CS_ECORRUPT (%d decoded)",
        undetected[2]);
  CHECK(wrong == 0, "no cut or extended chunk decodes to other postings (%d did)", wrong);

  /* Records: random bytes never decode into something out of bounds. */
  cs_buf scratch;
  cs_buf_init(&scratch);
  uint8_t junk[64];
  int bad = 0;
  for (int iter = 0; iter < 20000; iter++) {
    size_t n = rnd(sizeof junk);
    for (size_t i = 0; i < n; i++)
      junk[i] = (uint8_t)rnd(256);
    if (n) junk[0] = rnd(2) ? CS_RECORD_V1 : junk[0];
    cs_conv cv;
    tdec t;
    cs_patient p;
    if (cs_conv_decode(junk, n, &cv) == 0 &&
        (cv.title.p < (const char *)junk || cv.title.p + cv.title.len > (const char *)junk + n))
      bad++;
    if (t_decode(junk, n, &t) == 0) {
      if (t.it.packed.p) {
        /* Compressed text: decompresses to exactly its length, or is corrupt. */
        size_t len = t.t.text.len;
        int rc = t_text(&t, &scratch);
        if (rc == 0 && (t.t.text.len != len || t.t.text.p != (const char *)scratch.p)) bad++;
        if (rc != 0 && rc != CS_ECORRUPT) bad++;
      } else if (t.t.text.p + t.t.text.len > (const char *)junk + n) {
        bad++;
      }
    }
    if (cs_patient_decode(junk, n, &p) == 0 && p.name.p + p.name.len > (const char *)junk + n)
      bad++;
  }
  CHECK(bad == 0, "random record bytes are rejected or decode within bounds");
  cs_buf_free(&scratch);
}

static void records(void) {
  cs_buf b;
  cs_buf_init(&b);
  cs_conv c = {.id = 42,
               .patient_id = 7,
               .owner_id = 3,
               .title = {"Título", 7},
               .description = {"", 0},
               .language = {"es", 2},
               .audio_uri = {"s3://a", 6},
               .status = {"ok", 2},
               .duration_ms = -1,
               .created_at_ms = 1700000000000LL,
               .updated_at_ms = -1,
               .first_docid = 5,
               .ndocs = 3,
               .nturns = 2,
               .checksum = 0xfeedfacecafebeefULL};
  cs_conv_encode(&b, &c);
  cs_conv d;
  CHECK(cs_conv_decode(b.p, b.len, &d) == 0 && d.id == 42 && d.checksum == c.checksum &&
            d.title.len == 7 && memcmp(d.title.p, "Título", 7) == 0 && d.duration_ms == -1 &&
            d.created_at_ms == c.created_at_ms,
        "conversation record round trip");
  CHECK(cs_conv_decode(b.p, b.len - 1, &d) == CS_ECORRUPT, "a truncated record is corrupt");
  b.p[0] = 2;
  CHECK(cs_conv_decode(b.p, b.len, &d) == CS_ECORRUPT, "an unknown record version is refused");
  cs_buf_reset(&b);
  c.first_docid = UINT32_MAX - 2;
  cs_conv_encode(&b, &c);
  CHECK(cs_conv_decode(b.p, b.len, &d) == CS_ECORRUPT,
        "a conversation whose documents would pass the last docid is corrupt");
  c.first_docid = UINT32_MAX - 3; /* its last document just below the end */
  cs_buf_reset(&b);
  cs_conv_encode(&b, &c);
  CHECK(cs_conv_decode(b.p, b.len, &d) == 0 && d.first_docid + d.ndocs == UINT32_MAX,
        "a conversation ending just below the end marker decodes");

  /* Turns: a long text is stored compressed and reads back to the byte. */
  cs_buf text, scratch;
  cs_buf_init(&text);
  cs_buf_init(&scratch);
  for (int i = 0; i < 40; i++)
    cs_buf_bytes(&text, "Señorías, la sesión de hoy trata del presupuesto. ", 51);
  cs_textpack *z = cs_textpack_create();
  cs_turn t = {.docid = 9,
               .seq = 3,
               .role = CS_ROLE_BENEFICIARY,
               .speaker = {"Ana", 3},
               .text = {(const char *)text.p, text.len},
               .start_ms = 10,
               .end_ms = -1};
  cs_buf_reset(&b);
  t_encode(&b, &t, z);
  tdec u;
  CHECK(z && b.len < text.len / 4, "a long turn is stored compressed (%zu bytes for %zu)", b.len,
        text.len);
  CHECK(t_decode(b.p, b.len, &u) == 0 && u.it.packed.p && u.t.text.len == text.len &&
            t_text(&u, &scratch) == 0 && u.t.text.len == text.len &&
            memcmp(u.t.text.p, text.p, text.len) == 0 && u.t.docid == 9 && u.t.seq == 3 &&
            u.t.speaker.len == 3 && u.t.start_ms == 10 && u.t.end_ms == -1,
        "the compressed turn reads back to the byte");
  b.p[b.len - 3] ^= 0x5a;
  int rc = t_decode(b.p, b.len, &u);
  if (rc == 0) rc = t_text(&u, &scratch);
  CHECK(rc == CS_ECORRUPT || (rc == 0 && u.t.text.len == text.len),
        "damaged compressed text is corrupt, never out of bounds");
  cs_buf_reset(&b);
  t.text = (cs_str){"Sí.", 4};
  t_encode(&b, &t, z);
  CHECK(t_decode(b.p, b.len, &u) == 0 && !u.it.packed.p && u.t.text.len == 4 &&
            u.t.text.p >= (const char *)b.p && memcmp(u.t.text.p, "Sí.", 4) == 0 &&
            t_text(&u, &scratch) == 0,
        "a short turn is stored plain and read in place");
  /* A compressed text claiming 1 GiB is corrupt, not an allocation. */
  static const uint8_t huge[] = {CS_TEXT_ZSTD, 0x80, 0x80, 0x80, 0x80, 0x04, 1, 0};
  cs_rd rd;
  cs_rd_init(&rd, huge, sizeof huge);
  cs_str plain;
  cs_packed packed;
  CHECK(cs_textpack_get(&rd, &plain, &packed) == CS_ECORRUPT, "an absurd text length is corrupt");
  cs_textpack_destroy(z);
  cs_buf_free(&text);
  cs_buf_free(&scratch);
  cs_buf_free(&b);
}

/* A damaged frame that ends where readable memory ends (a value at the end
 * of the index map): unpacking it refuses it and reads nothing past it.
 * libzstd faults on such frames of 1-3 and 7-9 bytes (fuzz_records). */
static void frame_at_map_end(void) {
  long page = sysconf(_SC_PAGESIZE);
  uint8_t *m =
      mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(m != MAP_FAILED && mprotect(m + page, (size_t)page, PROT_NONE) == 0, "guard page");
  if (m == MAP_FAILED) return;
  cs_buf scratch;
  cs_buf_init(&scratch);
  uint32_t seed = 7;
  int refused = 0, tries = 0;
  for (size_t n = 1; n <= 12; n++)
    for (int k = 0; k < 20000; k++, tries++) {
      uint8_t *src = m + page - n;
      for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        src[i] = (uint8_t)(seed >> 16);
      }
      cs_str out;
      cs_packed pk = {{(const char *)src, n}, 0, CS_TEXT_ZSTD};
      int rc = cs_textpack_unpack(&pk, 1 + (seed >> 8) % 60000, &scratch, &out);
      refused += rc == CS_ECORRUPT;
    }
  CHECK(refused > tries / 2, "damaged frames at the end of the map are refused (%d of %d)", refused,
        tries);
  cs_buf_free(&scratch);
  munmap(m, (size_t)page * 2);
}

/* Spanish-like sentences (fixed seed), a turn's worth each. */
static size_t sentence(char *out, size_t cap, uint32_t *seed) {
  static const char *const w[] = {
      "la",    "vivienda", "de",        "alquiler", "que",     "el",   "médico", "nos", "dijo",
      "ayuda", "para",     "comida",    "familia",  "trabajo", "en",   "centro", "no",  "tenemos",
      "luz",   "agua",     "zarzamora", "mañana",   "gracias", "cita", "social"};
  size_t n = 0, words = 8 + (*seed >> 8) % 40;
  for (size_t i = 0; i < words && n + 16 < cap; i++) {
    *seed = *seed * 1103515245u + 12345u;
    const char *x = w[(*seed >> 16) % (sizeof w / sizeof *w)];
    n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? " " : "", x);
  }
  return n;
}

/* Long turns (format 8): from CS_TEXT_LZ4_MIN bytes, packed with LZ4 and
 * the dictionary's content (a snippet decodes them ~4x faster than zstd);
 * above a block's budget and below that, kept plain (read in place, no
 * decoding); a block's budget, zstd. Each read back to the byte; the LZ4
 * one damaged or cut, refused without reading past the stored bytes. z
 * has a dictionary. */
static void long_turns(cs_textpack *z, cs_buf *scratch, uint32_t *seed) {
  cs_buf text, b;
  cs_buf_init(&text);
  cs_buf_init(&b);
  char s[512];
  while (text.len < 3 * CS_TEXT_LZ4_MIN) {
    size_t n = sentence(s, sizeof s, seed);
    cs_buf_bytes(&text, s, n);
    cs_buf_bytes(&text, ". ", 2);
  }
  size_t lens[] = {CS_TBLOCK_BYTES, CS_TBLOCK_BYTES + 1, CS_TEXT_LZ4_MIN - 1, CS_TEXT_LZ4_MIN,
                   text.len};
  for (size_t k = 0; k < sizeof lens / sizeof *lens; k++) {
    cs_turn t = {.docid = 5, .seq = 1, .text = {(const char *)text.p, lens[k]}, .end_ms = -1};
    cs_buf_reset(&b);
    t_encode(&b, &t, z);
    tdec u;
    int rc = t_decode(b.p, b.len, &u);
    int want = lens[k] >= CS_TEXT_LZ4_MIN  ? CS_TEXT_LZ4_DICT
               : lens[k] > CS_TBLOCK_BYTES ? CS_TEXT_PLAIN
                                           : CS_TEXT_ZSTD_DICT;
    if (want == CS_TEXT_PLAIN) {
      CHECK(rc == 0 && !u.it.packed.p && u.it.text.len == lens[k] &&
                memcmp(u.it.text.p, text.p, lens[k]) == 0,
            "a text of %zu bytes is stored plain, readable in place", lens[k]);
    } else {
      CHECK(rc == 0 && u.it.packed.p && u.it.codec == want && u.it.dict,
            "a text of %zu bytes is stored with codec %d (%d)", lens[k], want, u.it.codec);
      CHECK(rc == 0 && packed_len(&b) * 10 < lens[k] * 9, "and compressed (%zu of %zu bytes)",
            packed_len(&b), lens[k]);
    }
    CHECK(rc == 0 && t_text(&u, scratch) == 0 && u.t.text.len == lens[k] &&
              memcmp(u.t.text.p, text.p, lens[k]) == 0,
          "a text of %zu bytes reads back to the byte", lens[k]);
  }
  /* The last one (LZ4): every stored byte damaged in turn, and cut. */
  size_t refused = 0, tries = 0;
  for (size_t at = b.len - packed_len(&b); at < b.len; at++, tries++) {
    b.p[at] ^= 0x5a;
    tdec u;
    int rc = t_decode(b.p, b.len, &u);
    if (rc == 0) rc = t_text(&u, scratch);
    refused += rc == CS_ECORRUPT;
    CHECK(rc == CS_ECORRUPT || (rc == 0 && u.t.text.len == text.len),
          "damaged LZ4 text (byte %zu) is corrupt, never out of bounds", at);
    b.p[at] ^= 0x5a;
  }
  CHECK(refused > 0, "damaged LZ4 texts are refused (%zu of %zu)", refused, tries);
  tdec u;
  CHECK(t_decode(b.p, b.len - 1, &u) == CS_ECORRUPT, "a cut LZ4 text is corrupt");
  CHECK(t_decode(b.p, b.len, &u) == 0, "the LZ4 turn");
  u.it.dict ^= 0x40000000;
  CHECK(t_text(&u, scratch) == CS_ECORRUPT, "an LZ4 text of an unknown dictionary is corrupt");
  cs_buf_free(&text);
  cs_buf_free(&b);
}

/* The text dictionary (textpack.h): built from sampled turns, used for
 * the turns after it, a turn from before it still read, a damaged one
 * refused. */
static void dictionary(void) {
  cs_textpack *z = cs_textpack_create();
  cs_buf b, scratch, meta;
  cs_buf_init(&b);
  cs_buf_init(&scratch);
  cs_buf_init(&meta);
  char s[512];
  uint32_t seed = 7;
  size_t n = sentence(s, sizeof s, &seed);
  while (n < 128)
    n = sentence(s, sizeof s, &seed);
  cs_turn t = {.docid = 1, .seq = 0, .speaker = {"Ana", 3}, .text = {s, n}, .end_ms = -1};
  t_encode(&b, &t, z);
  cs_buf before;
  cs_buf_init(&before);
  cs_buf_bytes(&before, b.p, b.len);
  char first[512];
  memcpy(first, s, n);
  size_t first_n = n, sampled = 0, nplain = 0, ndict = 0;
  CHECK(!cs_textpack_wants_dict(z), "no dictionary from one turn");
  while (!cs_textpack_wants_dict(z)) {
    n = sentence(s, sizeof s, &seed);
    t.text = (cs_str){s, n};
    cs_buf_reset(&b);
    t_encode(&b, &t, z);
    sampled += n;
    if (sampled > 4 * CS_ZDICT_SAMPLE) break;
  }
  CHECK(cs_textpack_wants_dict(z), "enough sampled text asks for a dictionary");
  int built = 0;
  CHECK(cs_textpack_train(z, &meta, &built) == 0 && built && meta.len > 9,
        "a dictionary is built from the samples (%zu bytes)", meta.len);
  CHECK(!memmem(meta.p, meta.len, "zarzamora", 9) && !memmem(meta.p, meta.len, "vivienda", 8),
        "the dictionary holds no word of the turns, only statistics and stop words");
  /* Turns after it: codec 2, shorter, read back to the byte. */
  size_t plain = 0, stored = 0;
  cs_textpack *zn = cs_textpack_create(); /* no dictionary: the baseline */
  for (int i = 0; i < 200; i++) {
    n = sentence(s, sizeof s, &seed);
    t.text = (cs_str){s, n};
    cs_buf_reset(&b);
    t_encode(&b, &t, zn);
    plain += packed_len(&b);
    cs_buf_reset(&b);
    t_encode(&b, &t, z);
    stored += packed_len(&b);
    tdec u;
    int rc = t_decode(b.p, b.len, &u);
    if (!rc && u.it.dict) ndict++;
    if (!rc && !u.it.packed.p) nplain++;
    if (!rc) rc = t_text(&u, &scratch);
    if (rc || u.t.text.len != n || memcmp(u.t.text.p, s, n) != 0) {
      CHECK(0, "turn %d with the dictionary reads back to the byte", i);
      break;
    }
  }
  CHECK(ndict > 190 && nplain < 10, "turns from 32 bytes use the dictionary (%zu of 200)", ndict);
  CHECK(stored * 10 < plain * 8, "and take less than 0.8 of the space without it (%zu, %zu)",
        stored, plain);
  cs_textpack_destroy(zn);
  tdec u;
  CHECK(t_decode(before.p, before.len, &u) == 0 && u.it.dict == 0 && u.it.packed.p &&
            t_text(&u, &scratch) == 0 && u.t.text.len == first_n &&
            memcmp(u.t.text.p, first, first_n) == 0,
        "a turn written before the dictionary still reads back");
  /* Another process (a reader) knows it once it is loaded. */
  CHECK(cs_textpack_dict_load((cs_str){(const char *)meta.p, meta.len}) == 0 &&
            cs_textpack_dict_load((cs_str){(const char *)meta.p, meta.len}) == 0,
        "loading the dictionary again is a no-op");
  /* A writer reopening the index uses the stored one. */
  cs_textpack *z2 = cs_textpack_create();
  CHECK(cs_textpack_use(z2, (cs_str){(const char *)meta.p, meta.len}) == 0, "reopened");
  cs_buf_reset(&b);
  t_encode(&b, &t, z2);
  CHECK(t_decode(b.p, b.len, &u) == 0 && u.it.dict && t_text(&u, &scratch) == 0 &&
            u.t.text.len == n && memcmp(u.t.text.p, s, n) == 0,
        "a writer reopened compresses with the stored dictionary");
  long_turns(z2, &scratch, &seed);
  /* Damaged: refused, never a crash. */
  for (size_t at = 0; at < meta.len; at += meta.len / 7 + 1) {
    meta.p[at] ^= 0x21;
    cs_textpack *z3 = cs_textpack_create();
    CHECK(cs_textpack_dict_load((cs_str){(const char *)meta.p, meta.len}) == CS_ECORRUPT &&
              cs_textpack_use(z3, (cs_str){(const char *)meta.p, meta.len}) == CS_ECORRUPT,
          "a dictionary damaged at byte %zu is corrupt", at);
    cs_textpack_destroy(z3);
    meta.p[at] ^= 0x21;
  }
  CHECK(cs_textpack_dict_load((cs_str){(const char *)meta.p, 5}) == CS_ECORRUPT,
        "a cut dictionary is corrupt");
  /* A turn naming a dictionary this process does not know. */
  CHECK(t_decode(b.p, b.len, &u) == 0 && u.it.dict, "a dictionary turn");
  u.it.dict ^= 0x40000000;
  CHECK(t_text(&u, &scratch) == CS_ECORRUPT, "an unknown dictionary id is corrupt");
  /* Dropped (its transaction aborted): back to no dictionary. */
  cs_textpack_drop(z);
  cs_buf_reset(&b);
  t_encode(&b, &t, z);
  CHECK(t_decode(b.p, b.len, &u) == 0 && u.it.dict == 0, "a dropped dictionary is not used");
  cs_textpack_destroy(z);
  cs_textpack_destroy(z2);
  cs_buf_free(&b);
  cs_buf_free(&before);
  cs_buf_free(&scratch);
  cs_buf_free(&meta);
}

/* Word-scan restart points (format 8, tmarks.h): a long turn's marks are
 * stored in its block and read back, each the position and offset of a
 * word right after white space, about every CS_TMARKS_EVERY words; a
 * short turn has none; a cut block is corrupt. */
static void marks(void) {
  cs_analyzer *an = cs_analyzer_create();
  cs_buf text, mk, b, scratch;
  cs_buf_init(&text);
  cs_buf_init(&mk);
  cs_buf_init(&b);
  cs_buf_init(&scratch);
  while (text.len < 4 * CS_TMARKS_MIN_TEXT) {
    static const char sentence_es[] =
        "Señorías, «la sesión» de hoy trata del presupuesto: 1.000,5 euros. ";
    cs_buf_bytes(&text, sentence_es, sizeof sentence_es - 1);
  }
  const cs_token *t;
  size_t nt;
  CHECK(an && cs_analyze(an, "es", (const char *)text.p, text.len, &t, &nt) == 0, "analyzed");
  cs_tmarks_build((const char *)text.p, text.len, t, nt, &mk);
  cs_str ts = {(const char *)text.p, text.len};
  cs_tmark m[256];
  long nm = cs_tmarks_read((cs_str){(const char *)mk.p, mk.len}, ts, m, 256);
  CHECK(nm >= (long)(nt / CS_TMARKS_EVERY) - 2 && nm <= (long)(nt / CS_TMARKS_EVERY),
        "about one mark every %d words (%ld for %zu)", CS_TMARKS_EVERY, nm, nt);
  int good = 1;
  for (long i = 0; i < nm; i++)
    good &= m[i].pos < nt && t[m[i].pos].start == m[i].off && text.p[m[i].off - 1] == ' ' &&
            (i == 0 || m[i].pos >= m[i - 1].pos + CS_TMARKS_EVERY);
  CHECK(nm > 0 && good, "each mark is a word right after white space");
  cs_buf small;
  cs_buf_init(&small);
  cs_tmarks_build((const char *)text.p, CS_TMARKS_MIN_TEXT - 1, t, nt, &small);
  CHECK(small.len == 0, "a short text has no marks");
  cs_buf_free(&small);

  cs_textpack *z = cs_textpack_create();
  cs_tblock_b tb;
  cs_tblock_b_init(&tb, 5);
  cs_turn in[3] = {{.docid = 1, .seq = 0, .text = {"Sí.", 4}, .end_ms = -1},
                   {.docid = 2,
                    .seq = 1,
                    .text = {(const char *)text.p, text.len},
                    .marks = {(const char *)mk.p, mk.len},
                    .end_ms = -1},
                   {.docid = 3, .seq = 2, .text = {(const char *)text.p, 300}, .end_ms = -1}};
  uint8_t key[12];
  for (int i = 0; i < 3; i++) {
    cs_tblock_b_add(&tb, &in[i]);
    CHECK(cs_tblock_b_encode(&tb, z, key, &b) == 0 && b.len > 0, "block %d encoded", i);
    cs_tblock_it it;
    cs_turn u;
    int rc = cs_tblock_begin(&it, (cs_slice){key, 12}, (cs_slice){b.p, b.len});
    if (!rc) rc = cs_tblock_texts(&it, &scratch);
    if (!rc) rc = cs_tblock_next(&it, &u);
    CHECK(rc == 0 && u.text.len == in[i].text.len && !memcmp(u.text.p, in[i].text.p, u.text.len),
          "turn %d reads back", i);
    if (i == 1)
      CHECK(rc == 0 && u.marks.len == mk.len && !memcmp(u.marks.p, mk.p, mk.len),
            "its marks read back");
    else
      CHECK(rc == 0 && cs_tmarks_read(u.marks, u.text, m, 256) <= 0, "turn %d has no marks", i);
    int bad = 0;
    for (size_t cut = 0; cut < b.len; cut++)
      bad += cs_tblock_check((cs_slice){key, 12}, (cs_slice){b.p, cut}, &scratch) != CS_ECORRUPT;
    CHECK(bad == 0, "every cut block %d is corrupt (%d were not)", i, bad);
  }
  CHECK(cs_tmarks_read((cs_str){(const char *)mk.p, mk.len}, ts, m, 1) == -1,
        "more marks than room are refused");
  CHECK(cs_tmarks_read((cs_str){(const char *)mk.p, mk.len - 1}, ts, m, 256) == -1,
        "cut marks are refused");
  /* A mark moved by a byte (into its word) or onto white space: damaged,
   * not a place to scan from; and the turn block holding it is corrupt. */
  for (int d = -1; d <= 1; d += 2) {
    cs_buf bad;
    cs_buf_init(&bad);
    cs_buf_varint(&bad, 1);
    cs_buf_varint(&bad, m[0].pos);
    cs_buf_varint(&bad, (uint64_t)((int64_t)m[0].off + d));
    cs_str bm = {(const char *)bad.p, bad.len};
    CHECK(cs_tmarks_read(bm, ts, m + 1, 255) == -1 && cs_tmarks_read(bm, ts, NULL, 256) == -1,
          "a mark %s its chunk's first byte is refused", d < 0 ? "before" : "after");
    cs_tblock_b bb;
    cs_tblock_b_init(&bb, 6);
    cs_turn one = {.docid = 4, .seq = 0, .text = ts, .marks = bm, .end_ms = -1};
    cs_tblock_b_add(&bb, &one);
    int rc = cs_tblock_b_encode(&bb, z, key, &b);
    CHECK(rc == 0 &&
              cs_tblock_check((cs_slice){key, 12}, (cs_slice){b.p, b.len}, &scratch) == CS_ECORRUPT,
          "a turn block with a misplaced mark is corrupt (%d)", rc);
    cs_tblock_b_free(&bb);
    cs_buf_free(&bad);
  }
  cs_tblock_b_free(&tb);
  cs_textpack_destroy(z);
  cs_analyzer_destroy(an);
  cs_buf_free(&text);
  cs_buf_free(&mk);
  cs_buf_free(&b);
  cs_buf_free(&scratch);
}

/* Turn blocks and passage blocks (format 7): several turns of a
 * conversation in one record read back field by field; a cut or damaged
 * block is corrupt, never read out of bounds. */
static void blocks(void) {
  static const struct {
    int32_t seq;
    const char *speaker, *text;
    int64_t start, end;
  } in[] = {
      {-2, "Entrevistadora", "¿Dónde vive usted ahora mismo?", 0, 2300},
      {0, "Íñigo", "En un piso de alquiler con mi familia, cerca del centro de salud.", 3026, 8926},
      {7, "Entrevistadora", "", -1, -1},
      {8, "Íñigo", "Sí.", INT64_MAX, INT64_MIN},
      {INT32_MAX, "Otra", "Nada más, gracias por todo.", 5, 4}};
  size_t n = sizeof in / sizeof *in;
  cs_textpack *z = cs_textpack_create();
  cs_tblock_b tb;
  cs_tblock_b_init(&tb, 77);
  for (size_t i = 0; i < n; i++) {
    cs_turn t = {.docid = 10 + (uint32_t)i * 3,
                 .seq = in[i].seq,
                 .role = (uint8_t)(i % 3),
                 .speaker = {in[i].speaker, strlen(in[i].speaker)},
                 .text = {in[i].text, strlen(in[i].text)},
                 .start_ms = in[i].start,
                 .end_ms = in[i].end};
    CHECK(cs_tblock_b_fits(&tb, &t), "turn %zu fits", i);
    cs_tblock_b_add(&tb, &t);
  }
  uint8_t key[12];
  cs_buf b, scratch;
  cs_buf_init(&b);
  cs_buf_init(&scratch);
  CHECK(cs_tblock_b_encode(&tb, z, key, &b) == 0 && b.len > 0, "block encoded");
  uint8_t want[12];
  cs_key_turn(want, 77, -2);
  CHECK(memcmp(key, want, 12) == 0, "the block's key is its first turn's");
  cs_tblock_it it;
  cs_turn t;
  int ok = cs_tblock_begin(&it, (cs_slice){key, 12}, (cs_slice){b.p, b.len}) == 0 &&
           cs_tblock_texts(&it, &scratch) == 0;
  for (size_t i = 0; ok && i < n; i++) {
    ok = cs_tblock_next(&it, &t) == 0 && t.seq == in[i].seq && t.docid == 10 + i * 3 &&
         t.role == i % 3 && t.speaker.len == strlen(in[i].speaker) &&
         !memcmp(t.speaker.p, in[i].speaker, t.speaker.len) && t.text.len == strlen(in[i].text) &&
         !memcmp(t.text.p, in[i].text, t.text.len) && t.start_ms == in[i].start &&
         t.end_ms == in[i].end;
    CHECK(ok, "turn %zu reads back", i);
  }
  CHECK(ok && cs_tblock_next(&it, &t) == CS_ENOTFOUND, "the block ends after its turns");
  CHECK(cs_tblock_check((cs_slice){key, 12}, (cs_slice){b.p, b.len}, &scratch) == 0,
        "the block checks");
  int bad = 0;
  for (size_t cut = 0; cut < b.len; cut++)
    bad += cs_tblock_check((cs_slice){key, 12}, (cs_slice){b.p, cut}, &scratch) != CS_ECORRUPT;
  CHECK(bad == 0, "every cut block is corrupt (%d were not)", bad);
  CHECK(cs_tblock_b_encode(&tb, z, key, &b) == 0 && b.len == 0, "an empty builder writes nothing");

  /* Passages: 3 in a block, read by number. */
  cs_pblock_b pw;
  cs_pblock_b_init(&pw);
  cs_passage p[3] = {{100, -2, 0, 0, 40, 0, 8926},
                     {102, 0, 8, 12, 3, -1, -1},
                     {103, INT32_MAX, INT32_MAX, 1, 2, INT64_MIN, INT64_MAX}};
  for (int i = 0; i < 3; i++)
    cs_pblock_b_add(&pw, &p[i]);
  CHECK(cs_pblock_b_encode(&pw, &b) == 0 && b.len > 0, "passage block encoded");
  for (uint32_t i = 0; i < 3; i++) {
    cs_passage q;
    CHECK(cs_pblock_get(b.p, b.len, i, &q) == 0 && q.docid == p[i].docid &&
              q.first_seq == p[i].first_seq && q.last_seq == p[i].last_seq &&
              q.first_off == p[i].first_off && q.last_end == p[i].last_end &&
              q.start_ms == p[i].start_ms && q.end_ms == p[i].end_ms,
          "passage %u reads back", i);
  }
  cs_passage q;
  CHECK(cs_pblock_get(b.p, b.len, 3, &q) == CS_ENOTFOUND, "no passage 3");
  bad = 0;
  for (size_t cut = 0; cut < b.len; cut++)
    bad += cs_pblock_check(b.p, cut) != CS_ECORRUPT;
  CHECK(bad == 0, "every cut passage block is corrupt (%d were not)", bad);
  uint8_t pk[12];
  cs_pblock_key(pk, 5, 70);
  CHECK(cs_be32_get(pk + 8) == 64, "passage 70 is in the block of passage 64");
  cs_pblock_b_free(&pw);
  cs_tblock_b_free(&tb);
  cs_textpack_destroy(z);
  cs_buf_free(&b);
  cs_buf_free(&scratch);
}

int main(void) {
  srand(12345);
  blocks();
  marks();
  round_trip();
  packed_fields();
  conversation_bounds();
  remove_docs();
  corruption();
  records();
  dictionary();
  frame_at_map_end();
  return th_check_done();
}
