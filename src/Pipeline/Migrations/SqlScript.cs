using System.Text.RegularExpressions;

namespace Pipeline.Migrations;

/// <summary>One SQL statement of a script: its tokens (no comments) and where it starts.</summary>
/// <param name="Tokens">Its tokens, without the terminating semicolon.</param>
/// <param name="Text">Its text as written (comments inside it included), without the semicolon.</param>
/// <param name="Line">The 1-based line it starts on.</param>
public sealed partial record SqlStatement(IReadOnlyList<SqlToken> Tokens, string Text, int Line)
{
    /// <summary>The statement on one line (white space collapsed), cut after <paramref name="maxLength"/> characters, for messages.</summary>
    public string Shown(int maxLength = 160)
    {
        var text = WhiteSpace().Replace(Text, " ").Trim();
        return text.Length <= maxLength ? text : text[..(maxLength - 1)] + "…";
    }

    /// <summary>True when the statement's first words are <paramref name="words"/> (lower case).</summary>
    public bool StartsWith(params string[] words) =>
        words.Length <= Tokens.Count && words.Select((w, i) => Tokens[i].Is(w)).All(b => b);

    [GeneratedRegex(@"\s+")]
    private static partial Regex WhiteSpace();
}

/// <summary>
/// Splits a SQL script into statements on the semicolons that end them, the way psql does: not inside strings,
/// quoted identifiers, comments, dollar quotes or parentheses, nor inside the <c>BEGIN ATOMIC … END</c> body of a
/// <c>CREATE FUNCTION</c> or <c>CREATE PROCEDURE</c>.
/// </summary>
public static class SqlScript
{
    /// <summary>The statements of <paramref name="sql"/>, in order; empty statements (<c>;;</c>) are dropped.</summary>
    /// <exception cref="SqlSyntaxException">The script cannot be tokenised, or its parentheses do not balance.</exception>
    public static IReadOnlyList<SqlStatement> Split(string sql)
    {
        var tokens = SqlTokenizer.Tokenize(sql);
        var lineStarts = SqlTokenizer.LineStarts(sql);
        var statements = new List<SqlStatement>();
        var current = new List<SqlToken>();
        var parentheses = new Stack<SqlToken>();
        var blockDepth = 0;
        foreach (var token in tokens)
        {
            if (token.IsSymbol("("))
            {
                parentheses.Push(token);
            }
            else if (token.IsSymbol(")"))
            {
                if (!parentheses.TryPop(out _))
                {
                    throw new SqlSyntaxException("a ')' without its '('", token.Line, token.Column);
                }
            }
            else if (token.IsSymbol(";") && parentheses.Count == 0 && blockDepth == 0)
            {
                Flush();
                continue;
            }
            else if (token.Kind == SqlTokenKind.Word && IsRoutineWithBody(current))
            {
                // SQL-standard routine bodies hold semicolons: BEGIN ATOMIC ... END (CASE ... END nests inside).
                if (token.Value == "begin" || (token.Value == "case" && blockDepth > 0))
                {
                    blockDepth++;
                }
                else if (token.Value == "end" && blockDepth > 0)
                {
                    blockDepth--;
                }
            }

            current.Add(token);
        }

        if (parentheses.Count > 0)
        {
            var open = parentheses.Last();
            throw new SqlSyntaxException("a '(' that is never closed", open.Line, open.Column);
        }

        if (blockDepth > 0)
        {
            var first = current[0];
            throw new SqlSyntaxException("a BEGIN ATOMIC routine body without its END", first.Line, first.Column);
        }

        Flush();
        return statements;

        void Flush()
        {
            if (current.Count == 0)
            {
                return;
            }

            var first = current[0];
            var last = current[^1];
            statements.Add(new SqlStatement(current.ToList(), sql[first.Offset..(last.Offset + last.Length)], SqlTokenizer.Position(first.Offset, lineStarts).Line));
            current.Clear();
            blockDepth = 0;
        }
    }

    private static bool IsRoutineWithBody(List<SqlToken> statement)
    {
        if (statement.Count < 2 || !statement[0].Is("create"))
        {
            return false;
        }

        var i = 1;
        if (statement[i].Is("or") && statement.Count > 3 && statement[i + 1].Is("replace"))
        {
            i += 2;
        }

        return statement[i].Is("function") || statement[i].Is("procedure");
    }
}
