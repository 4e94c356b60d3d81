// A volunteer tab left in the background must train at full pace. The training loop itself is
// paced by socket messages, which browsers do not throttle, but tfjs's WebGL backend waits for
// every GPU readback (tensor.data()) by polling a fence with chained setTimeout(0) calls, and
// Chrome throttles timers in hidden tabs: to one wake-up a second, and chained timers to one a
// minute once hidden for long (five minutes by Chrome's documentation; about one in headless
// Chromium 156 here, where a hidden WebGL tab fell to 0-2 steps a minute). So while the tab is
// hidden, WebGL readbacks skip the fence and read at once (the main thread waits for the GPU,
// which nobody is watching). WebGPU (mapAsync), wasm and cpu read back without timers.
import * as tf from '@tensorflow/tfjs';

export function keepWebglReadbacksOffTimers(doc: Document = document): void {
  const env = tf.env();
  const fence = env.getBool('WEBGL_FENCE_API_ENABLED');
  const query = env.getNumber('WEBGL_DISJOINT_QUERY_TIMER_EXTENSION_VERSION');
  const apply = () => {
    const hidden = doc.visibilityState === 'hidden';
    env.set('WEBGL_FENCE_API_ENABLED', hidden ? false : fence);
    env.set('WEBGL_DISJOINT_QUERY_TIMER_EXTENSION_VERSION', hidden ? 0 : query);
  };
  doc.addEventListener('visibilitychange', apply);
  apply();
}
