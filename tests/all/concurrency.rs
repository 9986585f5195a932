//! Hooks that send concurrently, written for `python3`: asyncio (streams
//! over TCP and TLS, `gather`, `wait_for`, executors, `httpx.AsyncClient`)
//! and threads. Each runs under the real `python3` and under `hookbox run`,
//! against the same listeners, in the same test.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsAcceptor;

use hookbox_testkit::poll::poll_until;

use crate::compat::{Case, allow, allow_trusting};
use crate::receiver::{Receiver, Reply, TestCa};
use crate::support::{HTTPX, TestHook, install_packages};

/// A TCP listener (TLS when given an acceptor) that greets each connection
/// with `ready\n` and keeps what each sends until it closes.
struct Collector {
    port: u16,
    connections: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Collector {
    async fn start(tls: Option<TlsAcceptor>) -> Collector {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(Mutex::new(Vec::new()));
        let sink = connections.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (sink, tls) = (sink.clone(), tls.clone());
                tokio::spawn(async move {
                    let bytes = match tls {
                        Some(acceptor) => match acceptor.accept(stream).await {
                            Ok(stream) => Self::serve(stream).await,
                            Err(_) => return,
                        },
                        None => Self::serve(stream).await,
                    };
                    sink.lock().unwrap().push(bytes);
                });
            }
        });
        Collector { port, connections }
    }

    async fn serve(
        mut stream: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    ) -> Vec<u8> {
        let mut bytes = Vec::new();
        if stream.write_all(b"ready\n").await.is_ok() {
            let read = stream.read_to_end(&mut bytes);
            let _ = tokio::time::timeout(Duration::from_secs(10), read).await;
        }
        bytes
    }

    /// What each connection sent, sorted, once `count` have closed (or what
    /// there was at the deadline).
    async fn received(&self, count: usize) -> Vec<String> {
        let connections = poll_until(
            Duration::from_secs(10),
            Duration::from_millis(10),
            async || self.connections.lock().unwrap().clone(),
            |connections| connections.len() >= count,
        )
        .await;
        let mut texts: Vec<String> = connections
            .iter()
            .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
            .collect();
        texts.sort();
        texts
    }
}

/// The hook run against an HTTP `receiver` (`SIEM_URL`) under its rule.
fn http_case<'a>(hook: &'a TestHook, receiver: &Receiver) -> Case<'a> {
    let url = format!("http://127.0.0.1:{}", receiver.port());
    Case {
        hook,
        env: vec![("SIEM_URL", url.clone())],
        hookbox_args: allow(url),
    }
}

const ASYNCIO_STREAMS: &str = r#"
import asyncio, os, ssl

TCP, TLS = int(os.environ["TCP_PORT"]), int(os.environ["TLS_PORT"])

async def send(port, context, message):
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    greeting = await reader.readline()
    writer.write(message)
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    return greeting.decode().strip()

def frame(text):
    # RFC 5425: syslog over TLS, octet-counted.
    message = f"<14>1 - hoop hookbox - - - {text}".encode()
    return str(len(message)).encode() + b" " + message

async def main():
    context = ssl.create_default_context(cafile="ca.pem")
    sends = [send(TCP, None, f"line {n}\n".encode()) for n in range(3)]
    sends += [send(TLS, context, frame(f"session {n}")) for n in range(3)]
    print(await asyncio.gather(*sends))
    try:
        await asyncio.wait_for(asyncio.sleep(30), timeout=0.01)
    except TimeoutError:
        print("timed out")
    print(await asyncio.wait_for(asyncio.sleep(0, "in time"), timeout=5))

asyncio.run(main())
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asyncio_streams_to_tcp_and_tls_listeners() {
    let ca = TestCa::new();
    let tcp = Collector::start(None).await;
    let tls = Collector::start(Some(ca.acceptor())).await;
    let hook = TestHook::new(ASYNCIO_STREAMS).with_file("ca.pem", &ca.ca_pem);
    let mut hookbox_args = allow_trusting(format!("tcp://127.0.0.1:{}", tls.port), &hook);
    hookbox_args.extend(allow(format!("tcp://127.0.0.1:{}", tcp.port)));
    let case = Case {
        hook: &hook,
        env: vec![
            ("TCP_PORT", tcp.port.to_string()),
            ("TLS_PORT", tls.port.to_string()),
        ],
        hookbox_args,
    };
    assert_eq!(
        case.both_succeed_alike().await,
        "['ready', 'ready', 'ready', 'ready', 'ready', 'ready']\ntimed out\nin time\n"
    );
    // Each line from both runs (received() sorts them).
    let lines: Vec<String> = (0..6).map(|n| format!("line {}\n", n / 2)).collect();
    assert_eq!(tcp.received(6).await, lines);
    let frames: Vec<String> = (0..6)
        .map(|n| {
            let message = format!("<14>1 - hoop hookbox - - - session {}", n / 2);
            format!("{} {message}", message.len())
        })
        .collect();
    assert_eq!(tls.received(6).await, frames);
}

const ASYNCIO_HTTP_SENDS: &str = r#"
import asyncio, json, os, urllib.request

URL = os.environ["SIEM_URL"]

def post(n):
    request = urllib.request.Request(URL + f"/events/{n}", data=json.dumps({"n": n}).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status

async def main():
    loop = asyncio.get_running_loop()
    statuses = await asyncio.gather(
        asyncio.to_thread(post, 1),
        loop.run_in_executor(None, post, 2),
        asyncio.wait_for(asyncio.to_thread(post, 3), timeout=5),
    )
    print(statuses)

asyncio.run(main())
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asyncio_gathers_three_http_sends() {
    let receiver = Receiver::http(Reply::Status(200, "ok")).await;
    let hook = TestHook::new(ASYNCIO_HTTP_SENDS);
    let case = http_case(&hook, &receiver);
    assert_eq!(case.both_succeed_alike().await, "[200, 200, 200]\n");
    let requests = receiver.requests();
    assert_eq!(requests.len(), 6, "{requests:?}");
    let mut paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "/events/1",
            "/events/1",
            "/events/2",
            "/events/2",
            "/events/3",
            "/events/3"
        ]
    );
}

const HTTPX_ASYNC: &str = r#"
import asyncio, os
import httpx

async def main():
    async with httpx.AsyncClient(base_url=os.environ["SIEM_URL"], timeout=5) as client:
        responses = await asyncio.gather(*(client.post(f"/events/{n}", json={"n": n}) for n in range(3)))
    print([response.status_code for response in responses], responses[0].text)

asyncio.run(main())
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httpx_async_client_gathers_three_posts() {
    let receiver = Receiver::http(Reply::Status(200, "accepted")).await;
    let hook = TestHook::new(HTTPX_ASYNC);
    install_packages(hook.dir.path(), HTTPX);
    let case = http_case(&hook, &receiver);
    assert_eq!(
        case.both_succeed_alike().await,
        "[200, 200, 200] accepted\n"
    );
    let requests = receiver.requests();
    assert_eq!(requests.len(), 6, "{requests:?}");
    assert!(
        requests
            .iter()
            .all(|r| r.header("content-type") == Some("application/json"))
    );
}

#[tokio::test]
async fn an_asyncio_subprocess_is_refused_saying_what_works() {
    let outcome = crate::support::run_source(
        "import asyncio\n\
         async def main():\n    \
             await asyncio.create_subprocess_exec('curl', '--version')\n\
         asyncio.run(main())\n",
    )
    .await;
    assert_eq!(outcome.exit_code, Some(1), "{outcome:?}");
    assert!(
        outcome
            .stderr
            .contains("NotImplementedError: asyncio subprocesses")
            && outcome.stderr.contains("asyncio.to_thread(subprocess.run"),
        "{}",
        outcome.stderr
    );
}

const TWO_THREADS: &str = r#"
import json, os, threading, urllib.request

URL = os.environ["SIEM_URL"]
sent = []

def send(path, body):
    request = urllib.request.Request(URL + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        sent.append((path, response.status))

threads = [
    threading.Thread(target=send, args=("/siem", {"to": "siem"}), name="siem"),
    threading.Thread(target=send, args=("/chat", {"text": "session opened"}), name="chat"),
]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(sorted(sent), [thread.is_alive() for thread in threads])
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_threads_send_and_are_joined() {
    let receiver = Receiver::http(Reply::Status(200, "ok")).await;
    let hook = TestHook::new(TWO_THREADS);
    let case = http_case(&hook, &receiver);
    assert_eq!(
        case.both_succeed_alike().await,
        "[('/chat', 200), ('/siem', 200)] [False, False]\n"
    );
    assert_eq!(receiver.requests().len(), 4);
}

const THREAD_POOL: &str = r#"
import os, urllib.error, urllib.request
from concurrent.futures import ThreadPoolExecutor, as_completed

URL = os.environ["SIEM_URL"]

def send(path):
    if path == "/bad":
        raise ValueError("no such collector")
    with urllib.request.urlopen(URL + path, data=b"{}", timeout=5) as response:
        return path, response.status

with ThreadPoolExecutor(max_workers=3) as pool:
    print(list(pool.map(send, ["/a", "/b", "/c"])))
    futures = {pool.submit(send, path): path for path in ["/d", "/bad", "/e"]}
    results = []
    for future in as_completed(futures):
        try:
            results.append(future.result())
        except ValueError as error:
            results.append((futures[future], str(error)))
    print(sorted(results))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_of_three_maps_and_completes_as_under_python3() {
    let receiver = Receiver::http(Reply::Status(200, "ok")).await;
    let hook = TestHook::new(THREAD_POOL);
    let case = http_case(&hook, &receiver);
    assert_eq!(
        case.both_succeed_alike().await,
        "[('/a', 200), ('/b', 200), ('/c', 200)]\n\
         [('/bad', 'no such collector'), ('/d', 200), ('/e', 200)]\n"
    );
    assert_eq!(receiver.requests().len(), 10);
}

const QUEUES: &str = r#"
import queue, threading

# A consumer started first, fed by the main thread, ended by a sentinel.
items = queue.Queue()
consumed = []
def consume():
    while (item := items.get()) is not None:
        consumed.append(item * 2)
consumer = threading.Thread(target=consume)
consumer.start()
for n in range(5):
    items.put(n)
items.put(None)
consumer.join()
print(consumed)

# Daemon workers and task_done, waited for with join().
tasks = queue.Queue()
done = []
lock = threading.Lock()
def work():
    while True:
        n = tasks.get()
        with lock:
            done.append(n)
        tasks.task_done()
for _ in range(3):
    threading.Thread(target=work, daemon=True).start()
for n in range(10):
    tasks.put(n)
tasks.join()
print(sorted(done))

# An event set by a thread; a wait that times out.
ready = threading.Event()
threading.Thread(target=ready.set).start()
print(ready.wait(5), threading.Event().wait(0.01))

# Many threads, each joined.
counted = []
threads = [threading.Thread(target=counted.append, args=(n,)) for n in range(2000)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(len(counted), sum(counted))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queues_events_and_many_threads_behave_as_under_python3() {
    let hook = TestHook::new(QUEUES);
    let case = Case {
        hook: &hook,
        env: Vec::new(),
        hookbox_args: Vec::new(),
    };
    assert_eq!(
        case.both_succeed_alike().await,
        "[0, 2, 4, 6, 8]\n[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]\nTrue False\n2000 1999000\n"
    );
}

const DEADLOCK: &str = r#"
import threading

never = threading.Event()
waiter = threading.Thread(target=never.wait, name="waiter")
waiter.start()
waiter.join()
print("unreachable")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_would_be_deadlock_ends_at_once_naming_the_threads() {
    let hook = TestHook::new(DEADLOCK);
    // python3 waits forever: still running at the deadline.
    let mut python = std::process::Command::new(crate::compat::real_python3())
        .arg(&hook.path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let exited = poll_until(
        Duration::from_secs(2),
        Duration::from_millis(20),
        async || python.try_wait().unwrap().is_some(),
        |&exited| exited,
    )
    .await;
    let hung = !exited;
    let _ = python.kill();
    let _ = python.wait();
    assert!(hung, "python3 finished a deadlocked hook");

    let started = Instant::now();
    let outcome = hook.run(&hookbox::sandbox::limits::Limits::default()).await;
    assert_eq!(outcome.exit_code, Some(1), "{outcome:?}");
    assert!(outcome.stdout.is_empty(), "{outcome:?}");
    assert!(
        outcome.stderr.contains("ThreadDeadlock")
            && outcome.stderr.contains("'waiter'")
            && outcome.stderr.contains("'MainThread'"),
        "{}",
        outcome.stderr
    );
    // Long before the wall clock (10 s by default) would have ended it.
    assert!(started.elapsed() < Duration::from_secs(5));
}

const HTTPX_ASYNC_HTTPS: &str = r#"
import asyncio, os
import httpx

async def main():
    async with httpx.AsyncClient(base_url=os.environ["SIEM_URL"], verify="ca.pem", timeout=5) as client:
        responses = await asyncio.gather(*(client.post(f"/events/{n}", json={"n": n}) for n in range(3)))
        print([response.status_code for response in responses], responses[0].text, responses[0].http_version)
    async with httpx.AsyncClient(verify="ca.pem", timeout=5) as client:
        try:
            await client.get(os.environ["OTHER_URL"] + "/x")
        except httpx.ConnectError:
            print("a server the CA did not sign is refused")

asyncio.run(main())
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httpx_async_client_over_https() {
    // anyio does TLS over memory buffers (ssl.MemoryBIO): the host does it
    // on the connection those buffers' bytes go through.
    let ca = TestCa::new();
    let receiver = Receiver::https(Reply::Status(200, "stored"), &ca).await;
    let hook = TestHook::new(HTTPX_ASYNC_HTTPS).with_file("ca.pem", &ca.ca_pem);
    install_packages(hook.dir.path(), HTTPX);
    let other = Receiver::https(Reply::Status(200, "stored"), &TestCa::new()).await;
    let url = format!("https://127.0.0.1:{}", receiver.port());
    let other_url = format!("https://127.0.0.1:{}", other.port());
    let mut hookbox_args = allow_trusting(url.clone(), &hook);
    hookbox_args.extend(allow(other_url.clone()));
    let case = Case {
        hook: &hook,
        env: vec![("SIEM_URL", url), ("OTHER_URL", other_url)],
        hookbox_args,
    };
    assert_eq!(
        case.both_succeed_alike().await,
        "[200, 200, 200] stored HTTP/1.1\na server the CA did not sign is refused\n"
    );
    assert_eq!(receiver.requests().len(), 6);
    assert!(other.requests().is_empty());
}
