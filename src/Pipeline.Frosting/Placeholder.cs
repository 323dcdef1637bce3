namespace Pipeline.Frosting; internal static class Placeholder {}
