package org.mobilevid.core;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small, strict JSON reader and writer (RFC 8259), so that the core has no third-party
 * dependency and compiles with plain {@code javac}.
 *
 * <p>Reading gives {@link LinkedHashMap} (objects, key order kept), {@link ArrayList} (arrays),
 * {@link String}, {@link Double} (every number), {@link Boolean} and {@code null}. Writing takes
 * the same types plus any other {@link Number}, {@link Map}, {@link Iterable}, {@code double[]},
 * {@code long[]} and {@code int[]}.
 */
public final class Json {
  private Json() {}

  /** Thrown on malformed input, with the character offset. */
  public static final class ParseException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public ParseException(String message, int offset) {
      super(message + " at offset " + offset);
    }
  }

  public static Object parse(String text) {
    Reader r = new Reader(text);
    r.skipWs();
    Object v = r.value(0);
    r.skipWs();
    if (r.pos != text.length()) {
      throw new ParseException("trailing characters", r.pos);
    }
    return v;
  }

  // ---- typed accessors, with messages that name the missing key -------------------------

  @SuppressWarnings("unchecked")
  public static Map<String, Object> asObject(Object v, String what) {
    if (!(v instanceof Map)) {
      throw new IllegalArgumentException(what + ": expected a JSON object");
    }
    return (Map<String, Object>) v;
  }

  @SuppressWarnings("unchecked")
  public static List<Object> asArray(Object v, String what) {
    if (!(v instanceof List)) {
      throw new IllegalArgumentException(what + ": expected a JSON array");
    }
    return (List<Object>) v;
  }

  public static double asDouble(Object v, String what) {
    if (!(v instanceof Number)) {
      throw new IllegalArgumentException(what + ": expected a number");
    }
    return ((Number) v).doubleValue();
  }

  /** An integral number (e.g. {@code 16} or {@code 16.0}); rejects 1.5. */
  public static long asLong(Object v, String what) {
    double d = asDouble(v, what);
    if (d != Math.rint(d) || Math.abs(d) > 9.007199254740992E15) {
      throw new IllegalArgumentException(what + ": expected an integer, got " + d);
    }
    return (long) d;
  }

  public static int asInt(Object v, String what) {
    long l = asLong(v, what);
    if (l < Integer.MIN_VALUE || l > Integer.MAX_VALUE) {
      throw new IllegalArgumentException(what + ": out of int range: " + l);
    }
    return (int) l;
  }

  public static String asString(Object v, String what) {
    if (!(v instanceof String)) {
      throw new IllegalArgumentException(what + ": expected a string");
    }
    return (String) v;
  }

  public static Object get(Map<String, Object> obj, String key, String where) {
    if (!obj.containsKey(key)) {
      throw new IllegalArgumentException(where + ": missing key \"" + key + "\"");
    }
    return obj.get(key);
  }

  public static double[] doubles(Object v, String what) {
    List<Object> a = asArray(v, what);
    double[] out = new double[a.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = asDouble(a.get(i), what + "[" + i + "]");
    }
    return out;
  }

  public static long[] longs(Object v, String what) {
    List<Object> a = asArray(v, what);
    long[] out = new long[a.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = asLong(a.get(i), what + "[" + i + "]");
    }
    return out;
  }

  public static int[] ints(Object v, String what) {
    List<Object> a = asArray(v, what);
    int[] out = new int[a.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = asInt(a.get(i), what + "[" + i + "]");
    }
    return out;
  }

  // ---- writer --------------------------------------------------------------------------

  public static String write(Object v) {
    StringBuilder sb = new StringBuilder();
    write(sb, v);
    return sb.toString();
  }

  private static void write(StringBuilder sb, Object v) {
    if (v == null) {
      sb.append("null");
    } else if (v instanceof String) {
      quote(sb, (String) v);
    } else if (v instanceof Boolean) {
      sb.append(((Boolean) v).booleanValue() ? "true" : "false");
    } else if (v instanceof Double || v instanceof Float) {
      number(sb, ((Number) v).doubleValue());
    } else if (v instanceof Number) {
      sb.append(((Number) v).longValue());
    } else if (v instanceof Map) {
      sb.append('{');
      boolean first = true;
      for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
        if (!first) sb.append(", ");
        first = false;
        quote(sb, String.valueOf(e.getKey()));
        sb.append(": ");
        write(sb, e.getValue());
      }
      sb.append('}');
    } else if (v instanceof Iterable) {
      sb.append('[');
      Iterator<?> it = ((Iterable<?>) v).iterator();
      boolean first = true;
      while (it.hasNext()) {
        if (!first) sb.append(", ");
        first = false;
        write(sb, it.next());
      }
      sb.append(']');
    } else if (v instanceof double[]) {
      double[] a = (double[]) v;
      sb.append('[');
      for (int i = 0; i < a.length; i++) {
        if (i > 0) sb.append(", ");
        number(sb, a[i]);
      }
      sb.append(']');
    } else if (v instanceof long[]) {
      long[] a = (long[]) v;
      sb.append('[');
      for (int i = 0; i < a.length; i++) {
        if (i > 0) sb.append(", ");
        sb.append(a[i]);
      }
      sb.append(']');
    } else if (v instanceof int[]) {
      int[] a = (int[]) v;
      sb.append('[');
      for (int i = 0; i < a.length; i++) {
        if (i > 0) sb.append(", ");
        sb.append(a[i]);
      }
      sb.append(']');
    } else {
      throw new IllegalArgumentException("cannot write " + v.getClass().getName() + " as JSON");
    }
  }

  /** Finite doubles as Java prints them (valid JSON, round-trips); NaN and infinities as null. */
  private static void number(StringBuilder sb, double d) {
    if (Double.isNaN(d) || Double.isInfinite(d)) {
      sb.append("null");
    } else {
      sb.append(Double.toString(d));
    }
  }

  private static void quote(StringBuilder sb, String s) {
    sb.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"': sb.append("\\\""); break;
        case '\\': sb.append("\\\\"); break;
        case '\n': sb.append("\\n"); break;
        case '\r': sb.append("\\r"); break;
        case '\t': sb.append("\\t"); break;
        case '\b': sb.append("\\b"); break;
        case '\f': sb.append("\\f"); break;
        default:
          if (c < 0x20) {
            sb.append(String.format("\\u%04x", (int) c));
          } else {
            sb.append(c);
          }
      }
    }
    sb.append('"');
  }

  // ---- reader --------------------------------------------------------------------------

  private static final class Reader {
    private static final int MAX_DEPTH = 512;
    final String s;
    int pos;

    Reader(String s) {
      this.s = s;
    }

    void skipWs() {
      while (pos < s.length()) {
        char c = s.charAt(pos);
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') pos++;
        else break;
      }
    }

    Object value(int depth) {
      if (depth > MAX_DEPTH) throw new ParseException("nested too deeply", pos);
      if (pos >= s.length()) throw new ParseException("unexpected end of input", pos);
      char c = s.charAt(pos);
      switch (c) {
        case '{': return object(depth);
        case '[': return array(depth);
        case '"': return string();
        case 't': return literal("true", Boolean.TRUE);
        case 'f': return literal("false", Boolean.FALSE);
        case 'n': return literal("null", null);
        default:
          if (c == '-' || (c >= '0' && c <= '9')) return number();
          throw new ParseException("unexpected character '" + c + "'", pos);
      }
    }

    Object literal(String word, Object v) {
      if (!s.startsWith(word, pos)) throw new ParseException("invalid literal", pos);
      pos += word.length();
      return v;
    }

    Map<String, Object> object(int depth) {
      Map<String, Object> m = new LinkedHashMap<>();
      pos++; // {
      skipWs();
      if (peek() == '}') {
        pos++;
        return m;
      }
      while (true) {
        skipWs();
        if (peek() != '"') throw new ParseException("expected a string key", pos);
        String k = string();
        skipWs();
        expect(':');
        skipWs();
        m.put(k, value(depth + 1));
        skipWs();
        char c = next();
        if (c == '}') return m;
        if (c != ',') throw new ParseException("expected ',' or '}'", pos - 1);
      }
    }

    List<Object> array(int depth) {
      List<Object> a = new ArrayList<>();
      pos++; // [
      skipWs();
      if (peek() == ']') {
        pos++;
        return a;
      }
      while (true) {
        skipWs();
        a.add(value(depth + 1));
        skipWs();
        char c = next();
        if (c == ']') return a;
        if (c != ',') throw new ParseException("expected ',' or ']'", pos - 1);
      }
    }

    String string() {
      expect('"');
      StringBuilder sb = new StringBuilder();
      while (true) {
        if (pos >= s.length()) throw new ParseException("unterminated string", pos);
        char c = s.charAt(pos++);
        if (c == '"') return sb.toString();
        if (c < 0x20) throw new ParseException("control character in string", pos - 1);
        if (c != '\\') {
          sb.append(c);
          continue;
        }
        char e = next();
        switch (e) {
          case '"': sb.append('"'); break;
          case '\\': sb.append('\\'); break;
          case '/': sb.append('/'); break;
          case 'b': sb.append('\b'); break;
          case 'f': sb.append('\f'); break;
          case 'n': sb.append('\n'); break;
          case 'r': sb.append('\r'); break;
          case 't': sb.append('\t'); break;
          case 'u':
            if (pos + 4 > s.length()) throw new ParseException("short \\u escape", pos);
            try {
              sb.append((char) Integer.parseInt(s.substring(pos, pos + 4), 16));
            } catch (NumberFormatException ex) {
              throw new ParseException("bad \\u escape", pos);
            }
            pos += 4; // surrogate pairs arrive as two escapes and combine in the String
            break;
          default:
            throw new ParseException("bad escape '\\" + e + "'", pos - 1);
        }
      }
    }

    Double number() {
      int start = pos;
      if (peek() == '-') pos++;
      if (peek() == '0') {
        pos++;
      } else if (isDigit(peek())) {
        while (isDigit(peek())) pos++;
      } else {
        throw new ParseException("bad number", start);
      }
      if (peek() == '.') {
        pos++;
        if (!isDigit(peek())) throw new ParseException("bad fraction", pos);
        while (isDigit(peek())) pos++;
      }
      if (peek() == 'e' || peek() == 'E') {
        pos++;
        if (peek() == '+' || peek() == '-') pos++;
        if (!isDigit(peek())) throw new ParseException("bad exponent", pos);
        while (isDigit(peek())) pos++;
      }
      return Double.valueOf(s.substring(start, pos));
    }

    static boolean isDigit(char c) {
      return c >= '0' && c <= '9';
    }

    char peek() {
      return pos < s.length() ? s.charAt(pos) : '\0';
    }

    char next() {
      if (pos >= s.length()) throw new ParseException("unexpected end of input", pos);
      return s.charAt(pos++);
    }

    void expect(char c) {
      if (next() != c) throw new ParseException("expected '" + c + "'", pos - 1);
    }
  }
}
