/// Why the database cannot be used, in words an operator can act on.
public struct StorageError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
