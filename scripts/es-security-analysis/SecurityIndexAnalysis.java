/*
 * The analysis components Elasticsearch's own security indices ask for, for the test node
 * of scripts/elasticsearch.sh start-secure.
 *
 * Why: the integ-test-zip distribution (the one Elasticsearch published on Maven Central)
 * carries x-pack-security but not the analysis-common module, and the .security index is
 * created with an "email" analyzer (tokenizer uax_url_email, filters pattern_capture,
 * lowercase, unique). Without them the index cannot be created, so no API key, native
 * user or role can be stored. This module registers those four names on the same Lucene
 * classes analysis-common uses; Dangan's own index needs none of them.
 *
 * Compiled by the script with the Eclipse compiler (ecj, from Maven Central) against the
 * distribution's own jars; it is loaded as a module of a private copy of the distribution.
 */
package dangan.elasticsearch;

import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

import org.apache.lucene.analysis.LowerCaseFilter;
import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.email.UAX29URLEmailTokenizer;
import org.apache.lucene.analysis.miscellaneous.RemoveDuplicatesTokenFilter;
import org.apache.lucene.analysis.pattern.PatternCaptureGroupTokenFilter;
import org.elasticsearch.index.analysis.TokenFilterFactory;
import org.elasticsearch.index.analysis.TokenizerFactory;
import org.elasticsearch.indices.analysis.AnalysisModule.AnalysisProvider;
import org.elasticsearch.plugins.AnalysisPlugin;
import org.elasticsearch.plugins.Plugin;

public class SecurityIndexAnalysis extends Plugin implements AnalysisPlugin {

    @Override
    public Map<String, AnalysisProvider<TokenizerFactory>> getTokenizers() {
        return Map.of("uax_url_email",
            (indexSettings, env, name, settings) -> TokenizerFactory.newFactory(name, UAX29URLEmailTokenizer::new));
    }

    @Override
    public Map<String, AnalysisProvider<TokenFilterFactory>> getTokenFilters() {
        return Map.of(
            "pattern_capture", (indexSettings, env, name, settings) -> {
                boolean preserve = settings.getAsBoolean("preserve_original", true);
                List<String> regexes = settings.getAsList("patterns");
                Pattern[] patterns = regexes.stream().map(Pattern::compile).toArray(Pattern[]::new);
                return filter(name, in -> new PatternCaptureGroupTokenFilter(in, preserve, patterns));
            },
            "lowercase", (indexSettings, env, name, settings) -> filter(name, LowerCaseFilter::new),
            // the captures of one email share its position, so removing duplicates at the
            // same position is what "unique" does for this analyzer
            "unique", (indexSettings, env, name, settings) -> filter(name, RemoveDuplicatesTokenFilter::new));
    }

    private static TokenFilterFactory filter(String name, java.util.function.UnaryOperator<TokenStream> make) {
        return new TokenFilterFactory() {
            @Override
            public String name() {
                return name;
            }

            @Override
            public TokenStream create(TokenStream in) {
                return make.apply(in);
            }
        };
    }
}
