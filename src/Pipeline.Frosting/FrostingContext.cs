using Cake.Core;

namespace Pipeline.Frosting;

/// <summary>
/// The default Frosting context: a <see cref="CakeContextAdapter"/> over Cake's own context.
/// Derive from it to carry build state; the derived type is constructed through dependency injection.
/// </summary>
public class FrostingContext : CakeContextAdapter, IFrostingContext
{
    /// <summary>Initializes a new instance of the <see cref="FrostingContext"/> class.</summary>
    /// <param name="context">Cake's context.</param>
    public FrostingContext(ICakeContext context)
        : base(context)
    {
    }
}
