package dev.batchbuffer;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.InputStream;
import java.lang.module.ModuleDescriptor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** Tests run on the class path, so this checks the compiled module-info directly. */
class ModuleDescriptorTest {

  @Test
  void moduleExportsTheApiTheTestKitAndMetricsAndRequiresNothingAtRunTime() throws Exception {
    ModuleDescriptor module;
    Path classes = Path.of(Buffer.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    try (InputStream in = Files.newInputStream(classes.resolve("module-info.class"))) {
      module = ModuleDescriptor.read(in);
    }
    assertThat(module.name()).isEqualTo("dev.batchbuffer");
    assertThat(module.exports().stream().filter(e -> !e.isQualified())
        .map(ModuleDescriptor.Exports::source).collect(Collectors.toSet()))
        .containsExactlyInAnyOrder("dev.batchbuffer", "dev.batchbuffer.testing",
            "dev.batchbuffer.micrometer");
    // The JFR event classes are visible to the recorder only.
    assertThat(module.exports().stream().filter(ModuleDescriptor.Exports::isQualified))
        .singleElement().satisfies(e -> {
          assertThat(e.source()).isEqualTo("dev.batchbuffer.internal.jfr");
          assertThat(e.targets()).containsExactly("jdk.jfr");
        });
    assertThat(module.requires().stream().map(ModuleDescriptor.Requires::name).collect(Collectors.toSet()))
        .containsExactlyInAnyOrder("java.base", "org.jspecify", "jdk.jfr", "micrometer.core");
    // Everything but java.base is optional at run time: the buffer needs only the JDK.
    assertThat(module.requires().stream().filter(r -> !r.name().equals("java.base")))
        .allSatisfy(r -> assertThat(r.modifiers()).contains(ModuleDescriptor.Requires.Modifier.STATIC));
  }
}
