/*
 * hunspell-es lemmas (lemmas.h).
 */
#include "lemmas.h"

#include <hunspell.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct cs__lemmas {
  Hunhandle *h;
  pthread_mutex_t lock;
};

cs__lemmas *cs__lemmas_open(const char *prefix, char *msg, size_t cap) {
  char aff[4096], dic[4096];
  if (snprintf(aff, sizeof aff, "%s.aff", prefix) >= (int)sizeof aff ||
      snprintf(dic, sizeof dic, "%s.dic", prefix) >= (int)sizeof dic) {
    snprintf(msg, cap, "the dictionary path is too long");
    return NULL;
  }
  /* libhunspell opens missing files without a word: check first. */
  if (access(aff, R_OK) != 0 || access(dic, R_OK) != 0) {
    snprintf(msg, cap, "cannot read %s and %s", aff, dic);
    return NULL;
  }
  cs__lemmas *l = calloc(1, sizeof *l);
  if (!l || !(l->h = Hunspell_create(aff, dic))) {
    free(l);
    snprintf(msg, cap, "cannot load %s", dic);
    return NULL;
  }
  const char *enc = Hunspell_get_dic_encoding(l->h);
  if (!enc || strcmp(enc, "UTF-8") != 0) {
    Hunspell_destroy(l->h);
    free(l);
    snprintf(msg, cap, "%s is not a UTF-8 dictionary", aff);
    return NULL;
  }
  pthread_mutex_init(&l->lock, NULL);
  return l;
}

void cs__lemmas_close(cs__lemmas *l) {
  if (!l) return;
  Hunspell_destroy(l->h);
  pthread_mutex_destroy(&l->lock);
  free(l);
}

size_t cs__lemmas_of(cs__lemmas *l, const char *w, size_t wl, char out[][CS__LEMMA_LEN]) {
  char word[CS__LEMMA_LEN];
  if (!l || wl == 0 || wl >= sizeof word) return 0;
  memcpy(word, w, wl);
  word[wl] = 0;
  char **list = NULL;
  size_t n = 0;
  pthread_mutex_lock(&l->lock);
  int k = Hunspell_stem(l->h, &list, word);
  for (int i = 0; i < k && n < CS__LEMMA_MAX; i++) {
    size_t len = strlen(list[i]);
    if (len == 0 || len >= CS__LEMMA_LEN || (len == wl && memcmp(list[i], w, wl) == 0)) continue;
    memcpy(out[n++], list[i], len + 1);
  }
  if (list) Hunspell_free_list(l->h, &list, k);
  pthread_mutex_unlock(&l->lock);
  return n;
}
