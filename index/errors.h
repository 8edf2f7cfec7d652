/*
 * Error codes of the index library. 0 is success; errors are negative and
 * never renumbered. cs_strerror() yields the message for each.
 */
#ifndef CS_ERRORS_H
#define CS_ERRORS_H

#define CS_ERRNO_MAP(X)                                                                            \
  X(CS_ENOMEM, -1, "out of memory")                                                                \
  X(CS_ENOTFOUND, -2, "not found")                                                                 \
  X(CS_ECORRUPT, -3, "index data is corrupt")                                                      \
  X(CS_EFULL, -4, "index map is full")                                                             \
  X(CS_EIO, -5, "input/output error")                                                              \
  X(CS_EVERSION, -6, "index format version not supported")                                         \
  X(CS_EINVAL, -7, "invalid argument")                                                             \
  X(CS_ELIMIT, -8, "a size limit was exceeded")                                                    \
  X(CS_EBUSY, -9, "index is locked by another writer")                                             \
  X(CS_ESTORE, -10, "LMDB error")                                                                  \
  X(CS_ENOSPC, -11, "no space left on device")

enum {
#define CS_ERRNO_ENUM(name, value, msg) name = value,
  CS_ERRNO_MAP(CS_ERRNO_ENUM)
#undef CS_ERRNO_ENUM
};

const char *cs_strerror(int rc);

#endif
