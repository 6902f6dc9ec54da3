#include "hl/signals.h"

#include <signal.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t shutdown_flag = 0;

static void on_signal(int sig)
{
    (void)sig;
    shutdown_flag = 1;
}

void hl_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

bool hl_shutdown_requested(void)
{
    return shutdown_flag != 0;
}

void hl_shutdown_request(void)
{
    shutdown_flag = 1;
}

bool hl_sleep_or_shutdown(long ms)
{
    while (ms > 0 && !shutdown_flag) {
        long step = ms > 50 ? 50 : ms;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = step * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
    return shutdown_flag != 0;
}
