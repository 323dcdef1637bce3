namespace Pipeline; internal static class Placeholder {}
