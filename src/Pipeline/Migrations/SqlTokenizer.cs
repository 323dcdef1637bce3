using System.Text;

namespace Pipeline.Migrations;

/// <summary>What a <see cref="SqlToken"/> is.</summary>
public enum SqlTokenKind
{
    /// <summary>An unquoted identifier or key word; <see cref="SqlToken.Value"/> is lower case (PostgreSQL folds them).</summary>
    Word,

    /// <summary>A double-quoted identifier (<c>"Title"</c>, <c>U&amp;"..."</c>); <see cref="SqlToken.Value"/> is its name, case kept.</summary>
    QuotedIdentifier,

    /// <summary>A string constant: <c>'...'</c>, <c>E'...'</c>, <c>B'...'</c>, <c>X'...'</c>, <c>N'...'</c>, <c>U&amp;'...'</c> or dollar-quoted.</summary>
    String,

    /// <summary>A numeric constant.</summary>
    Number,

    /// <summary>A positional parameter (<c>$1</c>).</summary>
    Parameter,

    /// <summary>An operator (<c>=</c>, <c>||</c>, <c>::</c>, …).</summary>
    Operator,

    /// <summary>One of <c>( ) [ ] , ; . :</c>.</summary>
    Punctuation,

    /// <summary>A backslash outside any quotes: the start of a psql meta-command (<c>\i</c>, <c>\set</c>, …).</summary>
    Backslash,
}

/// <summary>One token of a SQL script, with where it starts (1-based line and column) for messages.</summary>
/// <param name="Kind">What it is.</param>
/// <param name="Value">Its normalised value (lower-cased word, unquoted identifier, the string's text as written).</param>
/// <param name="Offset">Where it starts in the script (0-based character offset).</param>
/// <param name="Length">How many characters it spans in the script.</param>
/// <param name="Line">The 1-based line it starts on.</param>
/// <param name="Column">The 1-based column it starts at.</param>
public sealed record SqlToken(SqlTokenKind Kind, string Value, int Offset, int Length, int Line, int Column)
{
    /// <summary>True for an unquoted word equal to <paramref name="word"/> (lower case).</summary>
    public bool Is(string word) => Kind == SqlTokenKind.Word && Value == word;

    /// <summary>True for punctuation or an operator spelled <paramref name="symbol"/>.</summary>
    public bool IsSymbol(string symbol) => Kind is SqlTokenKind.Punctuation or SqlTokenKind.Operator && Value == symbol;

    /// <summary>True for a name: an unquoted word or a quoted identifier.</summary>
    public bool IsName => Kind is SqlTokenKind.Word or SqlTokenKind.QuotedIdentifier;
}

/// <summary>A script that cannot be tokenised: an unterminated string, quoted identifier, comment or dollar quote, or a stray character.</summary>
/// <param name="reason">What is wrong.</param>
/// <param name="line">The 1-based line where the problem starts.</param>
/// <param name="column">The 1-based column where the problem starts.</param>
public sealed class SqlSyntaxException(string reason, int line, int column)
    : Exception($"line {line}, column {column}: {reason}")
{
    /// <summary>What is wrong.</summary>
    public string Reason { get; } = reason;

    /// <summary>The 1-based line where the problem starts.</summary>
    public int Line { get; } = line;

    /// <summary>The 1-based column where the problem starts.</summary>
    public int Column { get; } = column;
}

/// <summary>
/// Splits PostgreSQL SQL into tokens the way the server's (and psql's) lexer does: <c>--</c> and nested
/// <c>/* */</c> comments, single-quoted strings with <c>''</c> (and backslash escapes in <c>E'...'</c>), double-quoted
/// identifiers with <c>""</c>, and dollar quoting (<c>$$...$$</c>, <c>$fn$...$fn$</c>). Comments and white space are dropped.
/// </summary>
public static class SqlTokenizer
{
    private const string OperatorCharacters = "+-*/<>=~!@#%^&|`?";

    /// <summary>Tokenises <paramref name="sql"/>.</summary>
    /// <exception cref="SqlSyntaxException">A string, identifier, comment or dollar quote is not terminated, or a character cannot start a token.</exception>
    public static IReadOnlyList<SqlToken> Tokenize(string sql)
    {
        ArgumentNullException.ThrowIfNull(sql);
        var tokens = new List<SqlToken>();
        var lineStarts = LineStarts(sql);
        var i = 0;
        while (i < sql.Length)
        {
            var c = sql[i];
            var start = i;
            if (char.IsWhiteSpace(c))
            {
                i++;
            }
            else if (c == '-' && Peek(sql, i + 1) == '-')
            {
                while (i < sql.Length && sql[i] != '\n')
                {
                    i++;
                }
            }
            else if (c == '/' && Peek(sql, i + 1) == '*')
            {
                i = SkipBlockComment(sql, i, lineStarts);
            }
            else if (c == '\'')
            {
                i = ReadQuoted(sql, i, '\'', backslashEscapes: false, "string constant", lineStarts);
                Add(SqlTokenKind.String, sql[start..i]);
            }
            else if ((c is 'e' or 'E') && Peek(sql, i + 1) == '\'')
            {
                i = ReadQuoted(sql, i + 1, '\'', backslashEscapes: true, "escape string constant (E'...')", lineStarts, start);
                Add(SqlTokenKind.String, sql[start..i]);
            }
            else if ((c is 'b' or 'B' or 'x' or 'X' or 'n' or 'N') && Peek(sql, i + 1) == '\'')
            {
                i = ReadQuoted(sql, i + 1, '\'', backslashEscapes: false, "string constant", lineStarts, start);
                Add(SqlTokenKind.String, sql[start..i]);
            }
            else if ((c is 'u' or 'U') && Peek(sql, i + 1) == '&' && Peek(sql, i + 2) is '\'' or '"')
            {
                var quote = sql[i + 2];
                i = ReadQuoted(sql, i + 2, quote, backslashEscapes: false, quote == '"' ? "quoted identifier" : "string constant", lineStarts, start);
                Add(quote == '"' ? SqlTokenKind.QuotedIdentifier : SqlTokenKind.String, quote == '"' ? Unquote(sql[(start + 2)..i]) : sql[start..i]);
            }
            else if (c == '"')
            {
                i = ReadQuoted(sql, i, '"', backslashEscapes: false, "quoted identifier", lineStarts);
                var name = Unquote(sql[start..i]);
                if (name.Length == 0)
                {
                    throw Error("a quoted identifier cannot be empty (\"\")", start, lineStarts);
                }

                Add(SqlTokenKind.QuotedIdentifier, name);
            }
            else if (c == '$')
            {
                if (char.IsAsciiDigit(Peek(sql, i + 1)))
                {
                    i++;
                    while (i < sql.Length && char.IsAsciiDigit(sql[i]))
                    {
                        i++;
                    }

                    Add(SqlTokenKind.Parameter, sql[start..i]);
                }
                else
                {
                    var tag = DollarTag(sql, i) ?? throw Error("a '$' that starts neither a dollar quote ($$ or $tag$) nor a parameter ($1)", start, lineStarts);
                    var close = sql.IndexOf(tag, i + tag.Length, StringComparison.Ordinal);
                    if (close < 0)
                    {
                        throw Error($"the dollar-quoted string opened with {tag} is never closed (no matching {tag})", start, lineStarts);
                    }

                    i = close + tag.Length;
                    Add(SqlTokenKind.String, sql[start..i]);
                }
            }
            else if (IsIdentifierStart(c))
            {
                i++;
                while (i < sql.Length && IsIdentifierPart(sql[i]))
                {
                    i++;
                }

                Add(SqlTokenKind.Word, sql[start..i].ToLowerInvariant());
            }
            else if (char.IsAsciiDigit(c) || (c == '.' && char.IsAsciiDigit(Peek(sql, i + 1))))
            {
                i = ReadNumber(sql, i);
                Add(SqlTokenKind.Number, sql[start..i]);
            }
            else if (c == ':' && Peek(sql, i + 1) == ':')
            {
                i += 2;
                Add(SqlTokenKind.Operator, "::");
            }
            else if (c is '(' or ')' or '[' or ']' or ',' or ';' or '.' or ':')
            {
                i++;
                Add(SqlTokenKind.Punctuation, c.ToString());
            }
            else if (c == '\\')
            {
                i++;
                Add(SqlTokenKind.Backslash, "\\");
            }
            else if (OperatorCharacters.Contains(c))
            {
                // An operator never contains the start of a comment: "a=-- x" is "a", "=", then a comment.
                i++;
                while (i < sql.Length && OperatorCharacters.Contains(sql[i])
                       && !(sql[i] == '-' && Peek(sql, i + 1) == '-') && !(sql[i] == '/' && Peek(sql, i + 1) == '*'))
                {
                    i++;
                }

                Add(SqlTokenKind.Operator, sql[start..i]);
            }
            else
            {
                throw Error($"unexpected character '{c}' (U+{(int)c:X4})", start, lineStarts);
            }

            void Add(SqlTokenKind kind, string value)
            {
                var (line, column) = Position(start, lineStarts);
                tokens.Add(new SqlToken(kind, value, start, i - start, line, column));
            }
        }

        return tokens;
    }

    /// <summary>The 1-based line and column of a character offset.</summary>
    internal static (int Line, int Column) Position(int offset, IReadOnlyList<int> lineStarts)
    {
        var index = 0;
        var low = 0;
        var high = lineStarts.Count - 1;
        while (low <= high)
        {
            var middle = (low + high) / 2;
            if (lineStarts[middle] <= offset)
            {
                index = middle;
                low = middle + 1;
            }
            else
            {
                high = middle - 1;
            }
        }

        return (index + 1, offset - lineStarts[index] + 1);
    }

    internal static List<int> LineStarts(string sql)
    {
        var starts = new List<int> { 0 };
        for (var i = 0; i < sql.Length; i++)
        {
            if (sql[i] == '\n')
            {
                starts.Add(i + 1);
            }
        }

        return starts;
    }

    private static char Peek(string sql, int index) => index < sql.Length ? sql[index] : '\0';

    private static bool IsIdentifierStart(char c) => char.IsAsciiLetter(c) || c == '_' || c >= '\u0080';

    private static bool IsIdentifierPart(char c) => IsIdentifierStart(c) || char.IsAsciiDigit(c) || c == '$';

    private static SqlSyntaxException Error(string reason, int offset, IReadOnlyList<int> lineStarts)
    {
        var (line, column) = Position(offset, lineStarts);
        return new SqlSyntaxException(reason, line, column);
    }

    /// <summary>Skips a block comment starting at <paramref name="i"/>; block comments nest in PostgreSQL.</summary>
    private static int SkipBlockComment(string sql, int i, IReadOnlyList<int> lineStarts)
    {
        var start = i;
        var depth = 0;
        while (i < sql.Length)
        {
            if (sql[i] == '/' && Peek(sql, i + 1) == '*')
            {
                depth++;
                i += 2;
            }
            else if (sql[i] == '*' && Peek(sql, i + 1) == '/')
            {
                depth--;
                i += 2;
                if (depth == 0)
                {
                    return i;
                }
            }
            else
            {
                i++;
            }
        }

        throw Error("the block comment (/* ... */) is never closed", start, lineStarts);
    }

    /// <summary>Reads a quoted token whose opening quote is at <paramref name="i"/>; a doubled quote stands for one.</summary>
    private static int ReadQuoted(string sql, int i, char quote, bool backslashEscapes, string what, IReadOnlyList<int> lineStarts, int? tokenStart = null)
    {
        var start = tokenStart ?? i;
        i++;
        while (i < sql.Length)
        {
            if (backslashEscapes && sql[i] == '\\')
            {
                i += 2;
                continue;
            }

            if (sql[i] == quote)
            {
                if (Peek(sql, i + 1) == quote)
                {
                    i += 2;
                    continue;
                }

                return i + 1;
            }

            i++;
        }

        throw Error($"the {what} opened here is never closed (no matching {quote})", start, lineStarts);
    }

    private static string Unquote(string quoted)
    {
        var builder = new StringBuilder(quoted.Length);
        for (var i = 1; i < quoted.Length - 1; i++)
        {
            builder.Append(quoted[i]);
            if (quoted[i] == '"' && i + 1 < quoted.Length - 1 && quoted[i + 1] == '"')
            {
                i++;
            }
        }

        return builder.ToString();
    }

    /// <summary>The dollar-quote tag starting at <paramref name="i"/> (<c>$$</c> or <c>$name$</c>), or null.</summary>
    private static string? DollarTag(string sql, int i)
    {
        var j = i + 1;
        if (j < sql.Length && sql[j] == '$')
        {
            return "$$";
        }

        if (j >= sql.Length || !IsIdentifierStart(sql[j]))
        {
            return null;
        }

        while (j < sql.Length && (IsIdentifierStart(sql[j]) || char.IsAsciiDigit(sql[j])))
        {
            j++;
        }

        return j < sql.Length && sql[j] == '$' ? sql[i..(j + 1)] : null;
    }

    private static int ReadNumber(string sql, int i)
    {
        while (i < sql.Length && (char.IsAsciiDigit(sql[i]) || sql[i] == '_'))
        {
            i++;
        }

        if (i < sql.Length && sql[i] == '.' && Peek(sql, i + 1) != '.')
        {
            i++;
            while (i < sql.Length && (char.IsAsciiDigit(sql[i]) || sql[i] == '_'))
            {
                i++;
            }
        }

        if (i < sql.Length && sql[i] is 'e' or 'E'
            && (char.IsAsciiDigit(Peek(sql, i + 1)) || (Peek(sql, i + 1) is '+' or '-' && char.IsAsciiDigit(Peek(sql, i + 2)))))
        {
            i += 2;
            while (i < sql.Length && char.IsAsciiDigit(sql[i]))
            {
                i++;
            }
        }

        // 0x1F, 0o17, 0b101 (PostgreSQL 16) and junk like 123abc: one token, the server judges it.
        while (i < sql.Length && IsIdentifierPart(sql[i]))
        {
            i++;
        }

        return i;
    }
}
