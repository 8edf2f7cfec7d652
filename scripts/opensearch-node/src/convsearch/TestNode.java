package convsearch;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.opensearch.analysis.common.CommonAnalysisPlugin;
import org.opensearch.common.settings.Settings;
import org.opensearch.http.HttpServerTransport;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.transport.Netty4Plugin;

/**
 * A real single-node OpenSearch for the mirror's tests, from Maven artifacts:
 * the HTTP transport and the common analysis (snowball, asciifolding...) are
 * given as classpath plugins; no security manager. Usage: TestNode DIR.
 * Data and logs go under DIR; the node binds a free loopback port and writes
 * its URL to DIR/url once it answers. It runs until the process is ended.
 */
public final class TestNode extends Node {
  private TestNode(Settings settings) {
    super(InternalSettingsPreparer.prepareEnvironment(settings, java.util.Map.of(), null, () -> "convsearch-test"),
        List.of(Netty4Plugin.class, CommonAnalysisPlugin.class), true);
  }

  public static void main(String[] args) throws Exception {
    Path dir = Path.of(args[0]).toAbsolutePath();
    Settings settings = Settings.builder()
        .put("path.home", dir.toString())
        .put("path.data", dir.resolve("data").toString())
        .put("path.logs", dir.resolve("logs").toString())
        .put("cluster.name", "convsearch-test")
        .put("node.name", "convsearch-test")
        .put("discovery.type", "single-node")
        .put("network.host", "127.0.0.1")
        .put("http.port", "0")
        .put("transport.port", "0")
        .put("http.type", "netty4")
        .put("transport.type", "netty4")
        .put("node.processors", 1)
        .put("cluster.routing.allocation.disk.threshold_enabled", false)
        .build();
    Node node = new TestNode(settings);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        node.close();
      } catch (Exception e) {
        e.printStackTrace();
      }
    }));
    node.start();
    HttpServerTransport http = node.injector().getInstance(HttpServerTransport.class);
    String url = "http://" + http.boundAddress().publishAddress() + "\n";
    Path tmp = dir.resolve("url.tmp");
    Files.writeString(tmp, url, StandardCharsets.UTF_8);
    Files.move(tmp, dir.resolve("url"), java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    new java.util.concurrent.CountDownLatch(1).await(); // the node's threads are daemons
  }
}
