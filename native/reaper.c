// persistd_reaper: lets persistd act as init for the app's orphans (PID 1 in a container, or a
// child subreaper) without taking exit statuses that libuv waits for.
//
//   setSubreaper()      -> boolean   prctl(PR_SET_CHILD_SUBREAPER, 1); false where unsupported
//   isSubreaper()       -> boolean   prctl(PR_GET_CHILD_SUBREAPER)
//   reap(keepPids[])    -> number    reaps exited children whose pid is not in keepPids; returns how many
//
// reap() never blocks and never touches a pid in keepPids (the app and anything else persistd
// spawned through child_process): libuv calls waitpid() on exactly those pids and must get their
// status. It peeks with waitid(WNOWAIT) and reaps only the pid it peeked; when the peeked zombie is
// one to keep (the app has exited and libuv has not collected it yet), it scans /proc for the other
// zombie children instead, since waitid(P_ALL) would keep answering with the same pid.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <node_api.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#define MAX_KEEP 64
#define MAX_REAPS_PER_CALL 4096

static int is_kept(pid_t pid, const pid_t *keep, size_t keep_count) {
  for (size_t i = 0; i < keep_count; i++) {
    if (keep[i] == pid) return 1;
  }
  return 0;
}

static int reap_pid(pid_t pid) {
  int status;
  pid_t got;
  do {
    got = waitpid(pid, &status, WNOHANG);
  } while (got < 0 && errno == EINTR);
  return got == pid;
}

// Reads state and parent pid from /proc/<pid>/stat ("pid (comm) S ppid ..."; comm may hold spaces and ')').
static int read_stat(const char *pid_name, char *state, pid_t *ppid) {
  char path[300];
  char buf[512];
  snprintf(path, sizeof path, "/proc/%s/stat", pid_name);
  FILE *file = fopen(path, "r");
  if (!file) return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, file);
  fclose(file);
  buf[n] = '\0';
  char *close_paren = strrchr(buf, ')');
  if (!close_paren) return 0;
  int parent = 0;
  if (sscanf(close_paren + 1, " %c %d", state, &parent) != 2) return 0;
  *ppid = (pid_t)parent;
  return 1;
}

static size_t reap_by_scan(const pid_t *keep, size_t keep_count) {
  size_t reaped = 0;
  pid_t self = getpid();
  DIR *proc = opendir("/proc");
  if (!proc) return 0;
  struct dirent *entry;
  while ((entry = readdir(proc)) != NULL && reaped < MAX_REAPS_PER_CALL) {
    if (entry->d_name[0] < '1' || entry->d_name[0] > '9') continue;
    char state = 0;
    pid_t ppid = 0;
    if (!read_stat(entry->d_name, &state, &ppid)) continue;
    if (state != 'Z' || ppid != self) continue;
    pid_t pid = (pid_t)strtol(entry->d_name, NULL, 10);
    if (is_kept(pid, keep, keep_count)) continue;
    if (reap_pid(pid)) reaped++;
  }
  closedir(proc);
  return reaped;
}

static size_t reap_children(const pid_t *keep, size_t keep_count) {
  size_t reaped = 0;
  while (reaped < MAX_REAPS_PER_CALL) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    int rc;
    do {
      rc = waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0 || info.si_pid == 0) break;  // ECHILD: no children; si_pid 0: none has exited
    if (is_kept(info.si_pid, keep, keep_count)) {
      reaped += reap_by_scan(keep, keep_count);
      break;
    }
    if (!reap_pid(info.si_pid)) break;
    reaped++;
  }
  return reaped;
}

static napi_value make_bool(napi_env env, int value) {
  napi_value result;
  napi_get_boolean(env, value != 0, &result);
  return result;
}

static napi_value set_subreaper(napi_env env, napi_callback_info info) {
  (void)info;
#ifdef PR_SET_CHILD_SUBREAPER
  return make_bool(env, prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0);
#else
  return make_bool(env, 0);
#endif
}

static napi_value is_subreaper(napi_env env, napi_callback_info info) {
  (void)info;
#ifdef PR_GET_CHILD_SUBREAPER
  int flag = 0;
  if (prctl(PR_GET_CHILD_SUBREAPER, &flag, 0, 0, 0) != 0) return make_bool(env, 0);
  return make_bool(env, flag);
#else
  return make_bool(env, 0);
#endif
}

static napi_value reap(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  pid_t keep[MAX_KEEP];
  size_t keep_count = 0;
  bool is_array = false;
  if (argc < 1 || napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array) {
    napi_throw_type_error(env, NULL, "reap(keepPids): keepPids must be an array of pids");
    return NULL;
  }
  uint32_t length = 0;
  napi_get_array_length(env, argv[0], &length);
  if (length > MAX_KEEP) {
    napi_throw_range_error(env, NULL, "reap(keepPids): too many pids to keep");
    return NULL;
  }
  for (uint32_t i = 0; i < length; i++) {
    napi_value element;
    int32_t pid = 0;
    if (napi_get_element(env, argv[0], i, &element) != napi_ok || napi_get_value_int32(env, element, &pid) != napi_ok) {
      napi_throw_type_error(env, NULL, "reap(keepPids): keepPids must be an array of pids");
      return NULL;
    }
    keep[keep_count++] = (pid_t)pid;
  }
  napi_value result;
  napi_create_uint32(env, (uint32_t)reap_children(keep, keep_count), &result);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
    { "setSubreaper", NULL, set_subreaper, NULL, NULL, NULL, napi_enumerable, NULL },
    { "isSubreaper", NULL, is_subreaper, NULL, NULL, NULL, napi_enumerable, NULL },
    { "reap", NULL, reap, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
