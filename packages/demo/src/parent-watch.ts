/**
 * Preloaded (`node --import`) into every process the demo supervisor starts. The supervisor gives each child an IPC
 * channel; when that channel closes, the supervisor is gone (even SIGKILLed, when it had no chance to stop its
 * children), and the child stops itself with SIGTERM, exactly as if the supervisor had stopped it: proxies drain,
 * apps close. So no demo process outlives the supervisor that started it.
 */
if (process.channel) {
  process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));
}
