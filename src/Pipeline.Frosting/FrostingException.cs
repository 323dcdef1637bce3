namespace Pipeline.Frosting;

/// <summary>An error in how the Frosting host is set up (bad working directory, invalid dependency, ...).</summary>
public sealed class FrostingException : Exception
{
    /// <summary>Initializes a new instance of the <see cref="FrostingException"/> class.</summary>
    /// <param name="message">The message.</param>
    public FrostingException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="FrostingException"/> class.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public FrostingException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
