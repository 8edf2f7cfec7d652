/*
 * libFuzzer harness: every record decoder of the index (index/records.h),
 * the postings codec (index/postings.h) and the per-owner blocks
 * (index/oblock.h, every entry's value decoded). The first byte picks the
 * decoder, the rest is the stored value; a turn block's texts are unpacked and a
 * chunk's positions read, as the readers do. Seeds: values of a real
 * index (tests/fuzz/seeds.c); CS_FUZZ_ZDICT names its stored-text
 * dictionary, registered first as a reader registers it, so that texts
 * packed with it are unpacked.
 */
#include "fuzz_records.h"
#include "oblock.h"
#include "postings.h"
#include "records.h"
#include "passblock.h"
#include "textpack.h"
#include "turnblock.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  const char *path = getenv("CS_FUZZ_ZDICT");
  if (!path) return 0; /* texts packed with a dictionary are then refused */
  static char v[1 << 20];
  FILE *f = fopen(path, "rb");
  size_t n = f ? fread(v, 1, sizeof v, f) : 0;
  if (f) fclose(f);
  if (!n || cs_textpack_dict_load((cs_str){v, n})) {
    fprintf(stderr, "fuzz_records: CS_FUZZ_ZDICT=%s is not a stored-text dictionary\n", path);
    abort();
  }
  return 0;
}

/* Reads each key of an owner's list of changes (records.h). */
static int each_change(void *ctx, int lex, const char *key, size_t len) {
  (void)ctx;
  volatile size_t sum = (size_t)lex + len;
  for (size_t i = 0; i < len; i++)
    sum += (unsigned char)key[i];
  (void)sum;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const uint8_t *p = data + 1;
  size_t n = size - 1;
  union {
    cs_doc doc;
    cs_conv conv;
    cs_turn turn;
    cs_patient patient;
    cs_event event;
    cs_inter inter;
    cs_lex lex;
    cs_word word;
    cs_point point;
    cs_checkpoint cp;
    cs_stats stats;
    cs_outop outop;
  } u;
  switch (data[0] % FUZZ_KINDS) {
  case FUZZ_DOC:
    cs_doc_decode(p, n, &u.doc);
    break;
  case FUZZ_CONV:
    cs_conv_decode(p, n, &u.conv);
    break;
  case FUZZ_TURN: {
    /* A turn block (turnblock.h) under the key of conversation 1's seq 0:
     * its turns read, then its texts unpacked as readers do (zstd,
     * dictionary id) and its turns read again with them. */
    static cs_buf text;
    uint8_t key[12];
    cs_key_turn(key, 1, 0);
    cs_tblock_it it;
    if (cs_tblock_begin(&it, (cs_slice){key, 12}, (cs_slice){p, n}) == 0) {
      cs_tblock_it again = it;
      while (cs_tblock_next(&it, &u.turn) == 0) {
      }
      if (cs_tblock_texts(&again, &text) == 0)
        while (cs_tblock_next(&again, &u.turn) == 0) {
        }
    }
    break;
  }
  case FUZZ_PATIENT:
    cs_patient_decode(p, n, &u.patient);
    break;
  case FUZZ_EVENT:
    cs_event_decode(p, n, &u.event);
    break;
  case FUZZ_INTER:
    cs_inter_decode(p, n, &u.inter);
    break;
  case FUZZ_LEX:
    cs_lex_decode(p, n, &u.lex);
    break;
  case FUZZ_WORD:
    cs_word_decode(p, n, &u.word);
    break;
  case FUZZ_POINT:
    cs_point_decode(p, n, &u.point);
    break;
  case FUZZ_CHECKPOINT:
    cs_checkpoint_decode(p, n, &u.cp);
    break;
  case FUZZ_STATS:
    if (cs_stats_decode(p, n, &u.stats) == 0) cs_ochanges_each(&u.stats, each_change, NULL);
    break;
  case FUZZ_OUTOP:
    cs_outop_decode(p, n, &u.outop);
    break;
  case FUZZ_PASSAGE:
    cs_pblock_check(p, n); /* a block of passages (passblock.h) */
    break;
  case FUZZ_CHUNK: {
    /* A chunk is stored under its first docid: 4 bytes of it, then the
     * value. */
    if (n < 4) return 0;
    uint32_t first = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    uint32_t last, ndocs, max_tf, min_len;
    cs_chunk_peek(p + 4, n - 4, first, &last, &ndocs, &max_tf, &min_len);
    static cs_chunk c;
    if (cs_chunk_decode(p + 4, n - 4, first, &c) == 0) {
      static uint32_t pos[4096];
      for (uint32_t i = 0; i < c.n; i++)
        if (cs_chunk_positions(&c, i, pos, 4096)) break;
    }
    break;
  }
  case FUZZ_OBLOCK: {
    if (n < 2 || p[1] > n - 2) return 0;
    cs_slice key = {p + 2, p[1]}, val = {p + 2 + p[1], n - 2 - p[1]};
    cs_oblock_check(p[0] & 1 ? CS_T_OWORDS : CS_T_OLEX, key, val);
    break;
  }
  }
  return 0;
}
