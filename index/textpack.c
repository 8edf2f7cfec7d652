/*
 * Stored text compression (layout in textpack.h).
 */
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_c_format: magicless frames */
#include "textpack.h"

#include "errors.h"
#include "grow.h"
#include "stopwords.h"
#include "varint.h"
#include "writer.h" /* CS_TEXT_MAX */

#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>
#include <lz4.h>
#include <zdict.h>
#include <zstd.h>

/* Below this, compression saves little (a frame's header, and no history
 * to match against) and each call costs microseconds of context setup:
 * measured on the synthetic interviews, 48 bytes kept 18% of their text and
 * 128 bytes 16%, for a tenth of the calls. Level 1 compresses short texts
 * as well as level 3, faster. */
#define PACK_MIN 128
#define PACK_LEVEL 1
/* With the dictionary a frame carries no entropy tables and may copy
 * common words from it: measured on ParlaMint, texts from 32 bytes gain. */
#define PACK_MIN_DICT 32
/* A sample is at most this long (one long speech must not be all of it). */
#define SAMPLE_ONE (16 * 1024)
#define ZDICT_VERSION 1
#define ZDICT_HEAD 9 /* version, be64 checksum */

struct cs_textpack {
  ZSTD_CCtx *cctx;
  cs_buf out;
  ZSTD_CDict *cdict; /* NULL: none (yet) */
  uint32_t dict_id;
  cs_str content; /* the dictionary's content (LZ4's history), in lz4_dict's bytes */
  char *lz4_dict; /* a copy of the dictionary */
  LZ4_stream_t *lz4;
  int sampling; /* still collecting samples */
  cs_buf sample;
  size_t *sizes, nsizes, sizes_cap;
};

cs_textpack *cs_textpack_create(void) {
  cs_textpack *z = calloc(1, sizeof *z);
  if (!z) return NULL;
  z->cctx = ZSTD_createCCtx();
  if (!z->cctx ||
      ZSTD_isError(ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_compressionLevel, PACK_LEVEL)) ||
      ZSTD_isError(ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_format, ZSTD_f_zstd1_magicless)) ||
      ZSTD_isError(ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_contentSizeFlag, 0)) ||
      ZSTD_isError(ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_checksumFlag, 0)) ||
      ZSTD_isError(ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_dictIDFlag, 0))) {
    cs_textpack_destroy(z);
    return NULL;
  }
  cs_buf_init(&z->out);
  cs_buf_init(&z->sample);
  z->sampling = 1;
  return z;
}

void cs_textpack_destroy(cs_textpack *z) {
  if (!z) return;
  ZSTD_freeCCtx(z->cctx);
  ZSTD_freeCDict(z->cdict);
  LZ4_freeStream(z->lz4);
  free(z->lz4_dict);
  cs_buf_free(&z->out);
  cs_buf_free(&z->sample);
  free(z->sizes);
  free(z);
}

static void sample_free(cs_textpack *z) {
  cs_buf_free(&z->sample);
  free(z->sizes);
  z->sizes = NULL;
  z->nsizes = z->sizes_cap = 0;
}

static void sample_add(cs_textpack *z, const char *s, size_t n) {
  if (!z->sampling || z->sample.len >= CS_ZDICT_SAMPLE || n < PACK_MIN_DICT) return;
  if (n > SAMPLE_ONE) n = SAMPLE_ONE;
  if (cs_grow((void **)&z->sizes, &z->sizes_cap, z->nsizes + 1, sizeof *z->sizes)) return;
  cs_buf_bytes(&z->sample, s, n);
  if (z->sample.err) { /* out of memory: no dictionary, texts still stored */
    z->sampling = 0;
    sample_free(z);
    return;
  }
  z->sizes[z->nsizes++] = n;
}

int cs_textpack_wants_dict(const cs_textpack *z) {
  return z && z->sampling && !z->cdict && z->sample.len >= CS_ZDICT_SAMPLE;
}

/* Checks a META zdict value: the dictionary it holds, or NULL. */
static const uint8_t *zdict_check(cs_str v, size_t *len) {
  const uint8_t *p = (const uint8_t *)v.p;
  if (!p || v.len <= ZDICT_HEAD || p[0] != ZDICT_VERSION) return NULL;
  *len = v.len - ZDICT_HEAD;
  uint64_t h = cs_checksum_str(cs_checksum_init(), v.p + ZDICT_HEAD, *len);
  if (cs_be64_get(p + 1) != h || ZSTD_getDictID_fromDict(p + ZDICT_HEAD, *len) == 0) return NULL;
  return p + ZDICT_HEAD;
}

/* The content of dictionary d (what frames copy from, after its header
 * and entropy tables): LZ4's history. */
static cs_str zdict_content(const uint8_t *d, size_t len) {
  size_t h = ZDICT_getDictHeaderSize(d, len);
  if (ZDICT_isError(h) || h > len) h = len;
  return (cs_str){(const char *)d + h, len - h};
}

int cs_textpack_use(cs_textpack *z, cs_str v) {
  size_t len;
  const uint8_t *d = zdict_check(v, &len);
  if (!d) return CS_ECORRUPT;
  int rc = cs_textpack_dict_load(v);
  if (rc) return rc;
  ZSTD_CDict *cd = ZSTD_createCDict(d, len, PACK_LEVEL);
  if (!cd) return CS_ECORRUPT;
  char *copy = malloc(len);
  if (!copy || (!z->lz4 && !(z->lz4 = LZ4_createStream())) ||
      ZSTD_isError(ZSTD_CCtx_refCDict(z->cctx, cd))) {
    free(copy);
    ZSTD_freeCDict(cd);
    return CS_ENOMEM;
  }
  memcpy(copy, d, len);
  free(z->lz4_dict);
  z->lz4_dict = copy;
  z->content = zdict_content((const uint8_t *)copy, len);
  ZSTD_freeCDict(z->cdict);
  z->cdict = cd;
  z->dict_id = ZSTD_getDictID_fromDict(d, len);
  z->sampling = 0;
  sample_free(z);
  return 0;
}

void cs_textpack_drop(cs_textpack *z) {
  if (!z || !z->cdict) return;
  (void)ZSTD_CCtx_refCDict(z->cctx, NULL);
  ZSTD_freeCDict(z->cdict);
  z->cdict = NULL;
  z->dict_id = 0;
  free(z->lz4_dict);
  z->lz4_dict = NULL;
  z->content = (cs_str){NULL, 0};
  z->sampling = 1;
}

/* The dictionary's content, what frames may copy from: the stop-word
 * lists, words of no one (see textpack.h). */
static void content_put(cs_buf *b) {
  const char *langs[] = {"en", "es"}; /* the nearest (cheapest) last */
  for (size_t l = 0; l < 2; l++) {
    size_t n;
    const char *const *w = cs_stopword_list(langs[l], &n);
    for (size_t i = 0; i < n; i++) {
      cs_buf_bytes(b, " ", 1);
      cs_buf_bytes(b, w[i], strlen(w[i]));
    }
  }
}

int cs_textpack_train(cs_textpack *z, cs_buf *out, int *built) {
  *built = 0;
  cs_buf content;
  cs_buf_init(&content);
  content_put(&content);
  size_t cap = content.len + 16 * 1024;
  cs_buf_reset(out);
  if (content.err || cs_buf_reserve(out, ZDICT_HEAD + cap)) {
    cs_buf_free(&content);
    return CS_ENOMEM;
  }
  /* An id of this dictionary alone (readers of several indexes keep
   * theirs side by side): the samples' checksum and the time, in the range
   * zstd leaves to users. */
  uint64_t h = cs_checksum_str(cs_checksum_init(), (const char *)z->sample.p, z->sample.len);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  h = cs_checksum_i64(h, (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
  ZDICT_params_t zp;
  memset(&zp, 0, sizeof zp);
  zp.compressionLevel = PACK_LEVEL;
  zp.dictID = 32768 + (uint32_t)(h % ((1u << 31) - 32768));
  size_t n = ZDICT_finalizeDictionary(out->p + ZDICT_HEAD, cap, content.p, content.len, z->sample.p,
                                      z->sizes, (unsigned)z->nsizes, zp);
  cs_buf_free(&content);
  z->sampling = 0;
  sample_free(z);
  if (ZDICT_isError(n)) return 0; /* too little or too uniform text: none */
  out->p[0] = ZDICT_VERSION;
  cs_be64_put(out->p + 1,
              cs_checksum_str(cs_checksum_init(), (const char *)out->p + ZDICT_HEAD, n));
  out->len = ZDICT_HEAD + n;
  int rc = cs_textpack_use(z, (cs_str){(const char *)out->p, out->len});
  if (rc) return rc == CS_ECORRUPT ? 0 : rc;
  *built = 1;
  return 0;
}

static void put_plain(cs_buf *b, const char *s, size_t n) {
  cs_buf_u8(b, CS_TEXT_PLAIN);
  cs_buf_str(b, s, n);
}

/* Packs a long text s[0..n) with LZ4 and z's dictionary (textpack.h). */
static void put_lz4(cs_textpack *z, cs_buf *b, const char *s, size_t n) {
  int cap = LZ4_compressBound((int)n);
  cs_buf_reset(&z->out);
  if (cap <= 0 || cs_buf_reserve(&z->out, (size_t)cap)) {
    b->err = CS_ENOMEM;
    return;
  }
  LZ4_resetStream_fast(z->lz4);
  LZ4_loadDict(z->lz4, z->content.p, (int)z->content.len);
  int r = LZ4_compress_fast_continue(z->lz4, s, (char *)z->out.p, (int)n, cap, 1);
  if (r <= 0 || (size_t)r + 4 >= n) {
    put_plain(b, s, n);
    return;
  }
  cs_buf_u8(b, CS_TEXT_LZ4_DICT);
  cs_buf_varint(b, z->dict_id);
  cs_buf_varint(b, n);
  cs_buf_str(b, (const char *)z->out.p, (size_t)r);
}

void cs_textpack_put(cs_textpack *z, cs_buf *b, const char *s, size_t n) {
  if (z && !z->cdict) sample_add(z, s, n);
  if (!z || n < (z->cdict ? PACK_MIN_DICT : PACK_MIN) ||
      (n > CS_TEXT_PLAIN_ABOVE && n < CS_TEXT_LZ4_MIN)) {
    put_plain(b, s, n);
    return;
  }
  if (z->cdict && n >= CS_TEXT_LZ4_MIN && n <= CS_TEXT_MAX) {
    put_lz4(z, b, s, n);
    return;
  }
  size_t cap = ZSTD_compressBound(n);
  cs_buf_reset(&z->out);
  if (cs_buf_reserve(&z->out, cap)) {
    b->err = CS_ENOMEM;
    return;
  }
  size_t r = ZSTD_compress2(z->cctx, z->out.p, cap, s, n);
  /* Kept compressed only when it saves more than the two lengths cost. */
  if (ZSTD_isError(r) || r + 4 >= n) {
    put_plain(b, s, n);
    return;
  }
  if (z->cdict) {
    cs_buf_u8(b, CS_TEXT_ZSTD_DICT);
    cs_buf_varint(b, z->dict_id);
  } else {
    cs_buf_u8(b, CS_TEXT_ZSTD);
  }
  cs_buf_varint(b, n);
  cs_buf_str(b, (const char *)z->out.p, r);
}

int cs_textpack_get(cs_rd *r, cs_str *out, cs_packed *packed) {
  memset(packed, 0, sizeof *packed);
  uint8_t codec = cs_rd_u8(r);
  if (codec == CS_TEXT_PLAIN) {
    *out = cs_rd_str(r);
    return r->err;
  }
  if (codec == CS_TEXT_ZSTD_DICT || codec == CS_TEXT_LZ4_DICT) {
    packed->dict = cs_rd_u32(r);
    if (r->err || packed->dict == 0) return CS_ECORRUPT;
  } else if (codec != CS_TEXT_ZSTD) {
    return CS_ECORRUPT;
  }
  packed->codec = codec;
  uint64_t len = cs_rd_varint(r);
  packed->bytes = cs_rd_str(r);
  /* No text longer than the writer stores: a damaged length must not make
   * a reader allocate gigabytes. */
  if (r->err || len > CS_TEXT_MAX || packed->bytes.len == 0) return CS_ECORRUPT;
  out->p = NULL;
  out->len = (size_t)len;
  return 0;
}

/* One decompression context per thread, made on first use and freed when
 * the thread ends: creating one costs more than decompressing a turn (it
 * was a quarter of a search's CPU when every snippet made its own). */
static _Thread_local ZSTD_DCtx *tl_dctx;
static pthread_key_t dctx_key;
static pthread_once_t dctx_once = PTHREAD_ONCE_INIT;

static void dctx_free(void *d) {
  ZSTD_freeDCtx(d);
}

static void dctx_key_init(void) {
  (void)pthread_key_create(&dctx_key, dctx_free);
}

static ZSTD_DCtx *dctx_get(void) {
  if (tl_dctx) return tl_dctx;
  ZSTD_DCtx *d = ZSTD_createDCtx();
  if (!d) return NULL;
  if (ZSTD_isError(ZSTD_DCtx_setParameter(d, ZSTD_d_format, ZSTD_f_zstd1_magicless))) {
    ZSTD_freeDCtx(d);
    return NULL;
  }
  pthread_once(&dctx_once, dctx_key_init);
  (void)pthread_setspecific(dctx_key, d);
  tl_dctx = d;
  return d;
}

/* The dictionaries readers know, by id: published once (count released
 * after the entry is written), never changed or freed, so a lookup takes no
 * lock. */
static struct {
  uint32_t id;
  cs_str v;       /* the META value, a copy: the same bytes need no check again */
  cs_str content; /* the dictionary's content, in v: LZ4's history */
  ZSTD_DDict *dd;
} dicts[CS_ZDICT_MAX];
static atomic_size_t ndicts;
static pthread_mutex_t dicts_lock = PTHREAD_MUTEX_INITIALIZER;

static ZSTD_DDict *dict_find(uint32_t id, size_t *i) {
  size_t n = atomic_load_explicit(&ndicts, memory_order_acquire);
  for (*i = 0; *i < n; (*i)++)
    if (dicts[*i].id == id) return dicts[*i].dd;
  return NULL;
}

static int same(cs_str a, cs_str b) {
  return a.len == b.len && memcmp(a.p, b.p, a.len) == 0;
}

int cs_textpack_dict_load(cs_str v) {
  size_t len, i;
  const uint8_t *p = (const uint8_t *)v.p;
  /* Known already, the very bytes (every read view asks): no checksum. */
  if (p && v.len > ZDICT_HEAD &&
      dict_find(ZSTD_getDictID_fromDict(p + ZDICT_HEAD, v.len - ZDICT_HEAD), &i) &&
      same(dicts[i].v, v))
    return 0;
  const uint8_t *d = zdict_check(v, &len);
  if (!d) return CS_ECORRUPT;
  uint32_t id = ZSTD_getDictID_fromDict(d, len);
  pthread_mutex_lock(&dicts_lock);
  int rc = 0;
  char *copy = NULL;
  if (dict_find(id, &i)) { /* another thread was first, or another dictionary has its id */
    rc = same(dicts[i].v, v) ? 0 : CS_ECORRUPT;
  } else if (i == CS_ZDICT_MAX) {
    rc = CS_ELIMIT;
  } else if (!(copy = malloc(v.len))) {
    rc = CS_ENOMEM;
  } else {
    ZSTD_DDict *dd = ZSTD_createDDict(d, len);
    if (!dd) {
      free(copy);
      rc = CS_ECORRUPT; /* its entropy tables do not load */
    } else {
      memcpy(copy, v.p, v.len);
      dicts[i].id = id;
      dicts[i].v = (cs_str){copy, v.len};
      dicts[i].content = zdict_content((const uint8_t *)copy + ZDICT_HEAD, len);
      dicts[i].dd = dd;
      atomic_store_explicit(&ndicts, i + 1, memory_order_release);
    }
  }
  pthread_mutex_unlock(&dicts_lock);
  return rc;
}

/* Zero bytes after the copy of a frame cs_textpack_unpack decompresses:
 * zstd's own bound on how far its copies may run (WILDCOPY_OVERLENGTH). */
#define UNPACK_PAD 32

/* LZ4 never reads past the packed bytes nor writes past len. */
static int unpack_lz4(cs_str packed, size_t len, size_t i, cs_buf *scratch, cs_str *out) {
  if (len > INT_MAX || packed.len > INT_MAX) return CS_ECORRUPT;
  if (cs_buf_reserve(scratch, len + 1)) return CS_ENOMEM;
  int r = LZ4_decompress_safe_usingDict(packed.p, (char *)scratch->p, (int)packed.len, (int)len,
                                        dicts[i].content.p, (int)dicts[i].content.len);
  if (r < 0 || (size_t)r != len) return CS_ECORRUPT;
  scratch->len = len;
  scratch->p[len] = 0;
  out->p = (const char *)scratch->p;
  out->len = len;
  return 0;
}

int cs_textpack_unpack(const cs_packed *pk, size_t len, cs_buf *scratch, cs_str *out) {
  cs_buf_reset(scratch);
  ZSTD_DDict *dd = NULL;
  size_t i;
  cs_str packed = pk->bytes;
  uint32_t dict = pk->dict;
  if (dict && !(dd = dict_find(dict, &i))) return CS_ECORRUPT;
  if (pk->codec == CS_TEXT_LZ4_DICT)
    return dd ? unpack_lz4(packed, len, i, scratch, out) : CS_ECORRUPT;
  /* libzstd 1.5.4 reads a few bytes past the end of a damaged magicless
   * frame (a 1-3 or 7-9 byte frame at the end of a page faults; found by
   * fuzz_records): it decompresses a copy followed by UNPACK_PAD zeros, never
   * the stored bytes themselves, which may end where the map ends. */
  if (packed.len > SIZE_MAX - len - 1 - UNPACK_PAD) return CS_ECORRUPT;
  if (cs_buf_reserve(scratch, len + 1 + packed.len + UNPACK_PAD)) return CS_ENOMEM;
  uint8_t *src = scratch->p + len + 1;
  memcpy(src, packed.p, packed.len);
  memset(src + packed.len, 0, UNPACK_PAD);
  ZSTD_DCtx *d = dctx_get();
  if (!d) return CS_ENOMEM;
  size_t r = dd ? ZSTD_decompress_usingDDict(d, scratch->p, len, src, packed.len, dd)
                : ZSTD_decompressDCtx(d, scratch->p, len, src, packed.len);
  if (ZSTD_isError(r) || r != len) return CS_ECORRUPT;
  scratch->len = len;
  scratch->p[len] = 0;
  out->p = (const char *)scratch->p;
  out->len = len;
  return 0;
}
